# Thin entry points; the work is in scripts/ (see docs/developing.md).
.POSIX:
.PHONY: all build demo check format clean

all: build

# The normal tree, configured as `make check` configures it.
build:
	scripts/build.sh

demo:
	scripts/demo.sh

check:
	scripts/check.sh

format:
	scripts/format-check.sh --fix

clean:
	rm -rf build build-san build-fuzz .check demo-data
