# Thirtieth session, call 1: the int4 tensor-core GEMV in three builds on one machine -- main's (the register form),
# branch next/w4-mma-xsum's (post forms without the subtraction a weight pair) and branch next/w4-mma-lean's (xsum plus
# addresses from fixed bases the compiler keeps, nibble zero points by one PRMT: static SASS of the main loop 194 ->
# 174 -> 160 instructions a chunk, config 1,1,4,1). bench_w4_mma.py for each (every configuration against the
# shipped Triton tiles), lean's GPU tests and end-to-end check, and where lean's bench wrote w4_mma entries, the
# int4_wo steps A/B'd (shipped table against it). Libraries: build/variants/{xsum,lean}.so, built from each branch's
# w4_gemv.cu with main's GEMM objects.
tar -xJf build/packed/libs.tar.xz -C build  # the three libraries, packed to fit a call's 64 MiB
. benchmarks/device_call.sh
R0=$R
for v in main xsum; do
    lib=$PWD/build/variants/$v.so; [ $v = main ] && lib=$PWD/build/cutlass/libvlmq_mixed_gemm.so
    VLMQ_CUTLASS_LIB=$lib timeout 120 python3 benchmarks/bench_w4_mma.py --out $R0/$v --reps 20 --write-tiles \
        --tiles-out $R0/$v/tiles.json 2>&1 | grep -v "$F" | tail -20 > $R0/$v.log
    echo "$v bench rc ${PIPESTATUS[0]} at $(since) s" >> $R0/$v.log
done
export VLMQ_CUTLASS_LIB=$PWD/build/variants/lean.so
R=$R0/lean; mkdir -p $R
w4mma_checks
R=$R0
for preset in 7b 2b; do
    if python3 -c "import json,sys; sys.exit(not any(e['shape'].startswith('$preset') for e in json.load(open('$R/lean/tiles.json')).get('w4_mma', [])))"; then
        b=1; [ $preset = 2b ] && b=1,16
        timeout $(( $(left) - 10 )) python3 benchmarks/bench_decode_ab.py --out $R/ab$preset --model qwen2-vl-$preset \
            --recipes int4_wo --batch-sizes $b --env VLMQ_TILES --rounds 3 \
            --variants "src/vlmq/engine/kernels/tiles/h200.json;$R/lean/tiles.json" 2>&1 | grep -v "$F" | tail -8 > $R/ab$preset.log
        echo "ab$preset rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab$preset.log
    fi
done
finish_call
for v in main xsum; do tail -19 $R/$v.log; done; cat $R/lean/test.log; tail -19 $R/lean/bench.log; cat $R/lean/engines.log $R/ab*.log 2>/dev/null
