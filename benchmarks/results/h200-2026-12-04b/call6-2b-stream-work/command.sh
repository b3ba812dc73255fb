# (Run by the forty-second session straight after call 5, 21 s warm, at call 5's tree with bench_weight_stream.py's
# `--work dot` fix: call 5's `work` part had stopped at its first case, the bits flag passed in the scale's place.
# Its records were written to /tmp on the device, so only the printed lines came back: work.log.)
. benchmarks/device_call.sh 2>/dev/null; BUDGET=200; timeout 180 python3 benchmarks/bench_weight_stream.py --out /tmp/work5 --matrices "2b gate_up int4" --work xor,dot,dot-scaled,bits --rows 8,16 --words 16,64 --warps 1,4 --stages 1 --reps 20 2>&1 | grep "^| 2b\|Error\|error" | sort -u | head -60
