"""`python -m installer`: the `cobridge` command without its console script."""

from installer.console import main

if __name__ == "__main__":
    main()
