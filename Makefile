# The two commands of README.md. Both install what they need.
.PHONY: run test bench

run:    ## the main job on the embedded local store with sample data
	bash scripts/run.sh

test:   ## the whole test suite (Python, PostgreSQL, linters, web)
	bash scripts/test.sh

bench:  ## benchmarks (bench/README.md)
	bash scripts/setup.sh dev && .venv/bin/python -m bench
