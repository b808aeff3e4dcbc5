"""`python -m demo`: what scripts/demo runs once the virtual environment is ready."""

import sys

from demo.supervisor import main

sys.exit(main())
