from gigaam_api.cli import main

raise SystemExit(main())
