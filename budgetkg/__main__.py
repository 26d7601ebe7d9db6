from budgetkg.cli import main

main()
