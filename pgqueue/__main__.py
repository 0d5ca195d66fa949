from pgqueue._cli import main

main()
