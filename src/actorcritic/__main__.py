"""`python -m actorcritic` is the `actorcritic` command."""

import sys

from actorcritic.cli import main

sys.exit(main())
