# Twenty-ninth session, call 7 (the last ~300 s of device time): does the access pattern alone cap the int4 GEMVs at
# ~2.5 TB/s? bench_weight_stream.py XORs the 7b gate/up's packed words (int4: 448 a row, int8: 896) with loads of 16
# rows a program and 16-512 bytes a row, 1 or 4 warps, Triton's pipeline at 1 or 3 stages.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 16 \
    --matrices "7b gate_up int4,7b gate_up int8" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
finish_call
cat $R/stream.log
