# Thirtieth session, call 2: branch next/w4-mma-lean with its activations through a coherent load (call 1's build
# had ptxas move them above griddepcontrol.wait: its engines check failed) -- the GPU tests, every configuration
# against the shipped Triton tiles, the end-to-end check, then the int4 steps A/B'd (shipped table against the one
# the bench wrote): 2b int4_wo and int4_awq at batch 1 and 16, the 7b int4_wo at batch 1 where it wrote a 7b entry.
tar -xJf build/packed/libs.tar.xz -C build  # the three libraries, packed to fit a call's 64 MiB
. benchmarks/device_call.sh
export VLMQ_CUTLASS_LIB=$PWD/build/variants/lean.so
R0=$R; R=$R0/lean; mkdir -p $R
w4mma_checks
R=$R0
if grep -q "engines rc 0" $R/lean/engines.log; then
    for preset in 2b 7b; do
        if python3 -c "import json,sys; sys.exit(not any(e['shape'].startswith('$preset') for e in json.load(open('$R/lean/tiles.json')).get('w4_mma', [])))"; then
            b=1; recipes=int4_wo; [ $preset = 2b ] && b=1,16 && recipes=int4_wo,int4_awq
            timeout $(( $(left) - 10 )) python3 benchmarks/bench_decode_ab.py --out $R/ab$preset --model qwen2-vl-$preset \
                --recipes $recipes --batch-sizes $b --env VLMQ_TILES --rounds 3 \
                --variants "src/vlmq/engine/kernels/tiles/h200.json;$R/lean/tiles.json" 2>&1 | grep -v "$F" | tail -10 > $R/ab$preset.log
            echo "ab$preset rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab$preset.log
        fi
    done
fi
finish_call
cat $R/lean/test.log; tail -19 $R/lean/bench.log; cat $R/lean/engines.log $R/ab*.log 2>/dev/null
