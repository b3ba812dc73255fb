# Thirtieth session, call 3: main's tensor-core GEMV with its activations through a coherent load (the latent form of
# call 1's failure: ptxas may move ld.global.nc above griddepcontrol.wait) -- its GPU tests, bench and end-to-end
# check (library build/variants/main.so: main's w4_gemv.cu with the GEMM objects of b82e2f3) -- then the twenty-ninth
# session's planned call 8: how many dependent multiply-adds a word the 7b gate/up's int4 stream affords.
tar -xJf build/packed/libs.tar.xz -C build
. benchmarks/device_call.sh
export VLMQ_CUTLASS_LIB=$PWD/build/variants/main.so
w4mma_checks
timeout $(( $(left) - 6 )) python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 16 --words 64,128 \
    --warps 1,4 --stages 1 --ops 0,4,8,16,32 --matrices "7b gate_up int4" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
finish_call
cat $R/test.log; tail -19 $R/bench.log; tail -3 $R/engines.log; tail -24 $R/stream.log
