"""`python -m service` runs the `yuki-authz` command line."""

from service.cli import main

if __name__ == "__main__":
    main()
