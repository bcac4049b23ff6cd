from curse_of_memory.cli import main

raise SystemExit(main())
