from snnbench.cli import main
import sys

sys.exit(main())
