# Thirtieth session, call 7: the --ops sweep again with every round an instruction (the twenty-ninth session's form
# let the compiler fold the rounds into one multiply-add: its "free" 32 operations a word were one) -- the 7b
# gate/up's int4 words, 8 and 16 rows, 512 bytes a row a load, 1 and 4 warps, 0-32 dependent multiply-adds a word.
. benchmarks/device_call.sh
timeout $(( $(left) - 6 )) python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 8,16 --words 128 \
    --warps 1,4 --stages 1 --ops 0,4,8,16,32 --matrices "7b gate_up int4" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
finish_call
tail -24 $R/stream.log
