import sys

from vlmq.cli import main

sys.exit(main())
