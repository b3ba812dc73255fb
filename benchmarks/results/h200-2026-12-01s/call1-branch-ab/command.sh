# Call 1 (nineteenth session): branch next/gemv-meta (CUDA-core GEMV rows from scalar program bases, unmasked group
# metadata where tiles are whole; SASS -3 to -17 % instructions a value) against main's gemv_triton.py, kernel by
# kernel in one call (main's file carried as build/ab/gemv_triton_main.py: `git show main:src/vlmq/engine/kernels/
# gemv_triton.py`), then the kernel GPU tests on the branch.
. benchmarks/device_call.sh
rm -rf /tmp/src_main && cp -r src /tmp/src_main && cp build/ab/gemv_triton_main.py /tmp/src_main/vlmq/engine/kernels/gemv_triton.py
AB="--rows 1 --modes int4-g128,int8-a16,int8-a8,fp8-a16 --presets 7b,2b --shapes qkv,o,gate_up,down --variants vlmq,vlmq-fused --jobs 14 --budget-s 150"
PYTHONPATH=/tmp/site:/tmp/src_main timeout 200 python3 benchmarks/bench_kernels.py --out $R/main $AB 2>&1 | grep -v "$F" | tail -80 > $R/main.log; echo "main rc ${PIPESTATUS[0]} at $(since) s" >> $R/main.log
timeout 200 python3 benchmarks/bench_kernels.py --out $R/branch $AB 2>&1 | grep -v "$F" | tail -80 > $R/branch.log; echo "branch rc ${PIPESTATUS[0]} at $(since) s" >> $R/branch.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py 2>&1 | grep -v "^$" | tail -8 > $R/kernels.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
finish_call
tail -2 $R/main.log $R/branch.log; tail -4 $R/kernels.log
