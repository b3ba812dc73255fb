# The kernels' GPU tests, run with the table written from call 2's sweep in the working tree (twenty-first session).
. benchmarks/device_call.sh; timeout 330 python3 -m pytest -q -m gpu tests/engine/test_kernels_gpu.py -x 2>&1 | grep -v "$F" | tail -15 > $R/kernels.log; echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log; finish_call; cat $R/kernels.log
