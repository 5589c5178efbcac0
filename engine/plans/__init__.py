"""Plans across runs: reconcile.py decides, as a pure function, what each account's plan is
now (new, ongoing, escalated, resolved, held back); store/ keeps runs, results and plans in
an embedded SQLite database and applies those decisions."""
