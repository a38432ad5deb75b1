import sys

from hfnet.commands.main import main

sys.exit(main())
