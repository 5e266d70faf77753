"""`python -m bridge.cli`: the `cobridge` command without its console script."""

from bridge.cli import main

if __name__ == "__main__":
    main()
