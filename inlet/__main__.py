import sys

from inlet.cli.main import main

sys.exit(main())
