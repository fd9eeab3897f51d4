# The two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo test setup build testbed-up testbed-down bench

demo:
	scripts/demo

test:
	scripts/test

setup:
	scripts/setup

build:
	cargo build --release --locked

testbed-up:
	tests/testbed/testbed up

testbed-down:
	tests/testbed/testbed down

bench:
	scripts/bench
