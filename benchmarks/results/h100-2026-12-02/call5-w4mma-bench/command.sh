# Thirtieth session, call 5 (on the warm H100 of call 4): the 7b int4 decode GEMVs, Triton tile against the
# tensor-core kernel, so call 4's H100 stream figures have their GEMVs beside them. Run as one command line:
tar -xJf build/packed/libs.tar.xz -C build; export VLMQ_CUTLASS_LIB=$PWD/build/variants/main.so; . benchmarks/device_call.sh; timeout 120 python3 benchmarks/bench_w4_mma.py --out $R/bench --reps 20 --presets 7b 2>&1 | grep -v "$F" | tail -12 > $R/bench.log; echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log; finish_call; cat $R/bench.log
