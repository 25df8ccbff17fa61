from zeroshot.cli.main import main

raise SystemExit(main())
