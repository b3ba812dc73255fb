# Thirtieth session, call 6: which of a GEMV's ingredients costs the int4 stream its speed -- bench_weight_stream.py
# on the 7b gate/up's int4 words with the XOR (the stream), a GEMV's unpacking and products with activations (dot),
# and with group scales and zero points too (dot-scaled), at 8 / 16 rows, 256 / 512 bytes a row a load, 1 / 2 / 4
# warps; then the shipped int4 tiles on the same machine (bench_w4_mma.py --presets 7b: its Triton column).
tar -xJf build/packed/libs.tar.xz -C build  # main's library (build/variants/main.so), packed
export VLMQ_CUTLASS_LIB=$PWD/build/variants/main.so
. benchmarks/device_call.sh
timeout 200 python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 8,16 --words 64,128 --warps 1,2,4 \
    --stages 1 --work xor,dot,dot-scaled --matrices "7b gate_up int4" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
timeout $(( $(left) - 6 )) python3 benchmarks/bench_w4_mma.py --out $R/bench --reps 20 --presets 7b 2>&1 | grep -v "$F" \
    | tail -12 > $R/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log
finish_call
tail -40 $R/stream.log; cat $R/bench.log
