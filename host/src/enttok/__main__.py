from enttok.cli import main

raise SystemExit(main())
