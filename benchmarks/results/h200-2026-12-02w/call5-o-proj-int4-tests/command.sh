# The three cases of test_attention_gpu.py that call 1's 380 s timeout cut (the int4 o_proj crossings), in the call's
# last ~200 s of device time (run inline; its output is output.log).
. benchmarks/device_call.sh; timeout 190 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py -k "o_proj_equals and int4" 2>&1 | grep -v "$F" | grep -v "^$" | tail -4
