"""`python -m actorcritic.cli` is the `actorcritic` command."""

import sys

from actorcritic.cli.commands import main

sys.exit(main())
