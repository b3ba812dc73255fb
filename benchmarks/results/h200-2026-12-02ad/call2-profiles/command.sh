# Thirty-first session, call 2: where each decode step and first token go now (torch.profiler per kernel, per layer
# place; the speed-profile task), the 2b's recipes at batch 1 and 16, then the 7b's quantized ones -- the last
# profiles on record were the thirteenth session's, twenty sessions of kernels ago.
. benchmarks/device_call.sh
timeout 260 python3 benchmarks/bench_speed.py --out $R/prof2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo --batch-sizes 1,16 --tasks speed-profile \
    --long-context-recipes '' --budget-s 250 2>&1 | grep -v "$F" | tail -8 > $R/prof2b.log
echo "prof2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/prof2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/prof7b --models qwen2-vl-7b \
    --recipes int4_wo,int8_wo,fp8,bf16 --batch-sizes 1 --tasks speed-profile \
    --long-context-recipes '' --budget-s $(( $(left) - 14 )) 2>&1 | grep -v "$F" | tail -8 > $R/prof7b.log
echo "prof7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/prof7b.log
finish_call
cat $R/prof2b.log $R/prof7b.log; ls $R/prof2b $R/prof7b
