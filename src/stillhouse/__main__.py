from stillhouse.cli import main

# Guarded: a process spawned from `python -m stillhouse ...` (the training ranks of
# stillhouse.train.launch) re-imports this module and must not run the CLI again.
if __name__ == "__main__":
    main()
