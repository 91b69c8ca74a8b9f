# Peer adapter: time R gKRLS + mgcv on a CSV written by a benchmark script.
# Usage: Rscript benchmarks/r_gkrls_fit.R data.csv test.csv engine(gam|bam) family
# Prints one JSON line: seconds, rmse (vs column `truth` of test.csv), edf.
# Needs R with mgcv and gKRLS (see tests/golden/install_r.sh); never run by CI.
suppressMessages({library(mgcv); library(gKRLS); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); test <- read.csv(args[2])
engine <- if (length(args) >= 3) args[3] else "bam"
fam <- if (length(args) >= 4) get(args[4])() else gaussian()
f <- y ~ s(x1, x2, bs = "gKRLS")
t0 <- proc.time()[["elapsed"]]
fit <- if (engine == "bam") bam(f, data = d, family = fam, method = "fREML") else
  gam(f, data = d, family = fam, method = "REML")
secs <- proc.time()[["elapsed"]] - t0
pred <- predict(fit, newdata = test, type = "response")
cat(toJSON(list(seconds = secs, rmse = sqrt(mean((pred - test$truth)^2)),
                edf = sum(fit$edf)), auto_unbox = TRUE, digits = NA), "\n")
