module latch.dev/latch/bench

go 1.26
