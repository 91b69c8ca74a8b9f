# Golden values for flexcausal.gkrls.smooth_test: mgcv's approximate p-values for smooth
# terms (Wood 2013, Biometrika 100(1) 221-228) as printed by summary.gam (p.type = 0).
#
# Run from the repository root:   Rscript tests/golden/make_smooth_test_golden.R
# Needs R with mgcv (1.8-41 was used) and jsonlite.  Writes tests/golden/smooth_test.json.
#
# Contents
#   models:     mgcv fits on simulated data.  For each model: object$R (the unpivoted R
#               factor of sqrt(W) X at convergence, columns in model order), coefficients,
#               Vp, Ve, F, edf, edf1, sig2, scale.estimated, df.residual, the residual df
#               summary.gam uses (length(y) - sum(edf)), the total penalty
#               S = sum_k sp_k S_k embedded p x p, and summary(fit)$s.table.  For each
#               smooth: 0-based coefficient range, the branch summary.gam takes ("smooth" =
#               testStat, "re" = reTest), sqrt(w) * X[, term] over the data rows, the raw
#               testStat/reTest output and, for "re" terms, mgcv:::recov's Rm and Ve block.
#   teststat:   direct calls of mgcv:::testStat on synthetic (p, X, V, rank, res.df), to
#               reach every branch (rank < 1, integer rank, r.est < rank, F and chi-square).
#   davies:     mgcv:::psum.chisq (Davies 1980 algorithm) with its trace and ifault.
#   liu2:       mgcv:::liu2 (Liu, Tang & Zhang 2009).
#
# All *input* data are rounded with signif(, 15) (golden_helpers.R) so they survive the
# JSON round trip; matrices are written row-major (one JSON array per row).

suppressPackageStartupMessages({
  library(mgcv)
  library(jsonlite)
})

t_start <- proc.time()[["elapsed"]]
source(file.path("tests", "golden", "golden_helpers.R"))

# ----------------------------------------------------------------------------- model records
total_penalty <- function(b) {
  sp <- if (is.null(b$full.sp)) b$sp else b$full.sp
  p <- length(coef(b))
  S <- matrix(0, p, p)
  k <- 1
  for (sm in b$smooth) {
    if (length(sm$S) == 0) next
    ii <- sm$first.para:sm$last.para
    for (Sj in sm$S) {
      S[ii, ii] <- S[ii, ii] + sp[k] * Sj
      k <- k + 1
    }
  }
  S
}

smooth_kind <- function(sm) {
  fx <- if (inherits(sm, "tensor.smooth") && !is.null(sm$fx)) all(sm$fx) else sm$fixed
  if (!fx && sm$null.space.dim == 0) "re" else "smooth"
}

record_model <- function(name, description, fit) {
  s <- summary(fit)
  X <- model.matrix(fit)
  sw <- sqrt(fit$weights)
  residual_df <- length(fit$y) - sum(fit$edf)
  smooths <- list()
  for (i in seq_along(fit$smooth)) {
    sm <- fit$smooth[[i]]
    ii <- sm$first.para:sm$last.para
    kind <- smooth_kind(sm)
    entry <- list(
      label = sm$label,
      first = sm$first.para - 1L,          # 0-based, inclusive
      last = sm$last.para - 1L,            # 0-based, inclusive
      kind = kind,
      random = isTRUE(sm$random),
      null_space_dim = sm$null.space.dim,
      Xw = rows(sw * X[, ii, drop = FALSE]),
      edf = sum(fit$edf[ii]),
      edf1 = sum(fit$edf1[ii]),
      s_table = as.list(s$s.table[sm$label, ])
    )
    if (kind == "smooth") {
      rdf <- if (fit$scale.estimated) residual_df else -1
      ts <- mgcv:::testStat(coef(fit)[ii], fit$R[, ii, drop = FALSE], fit$Vp[ii, ii, drop = FALSE],
                            min(length(ii), entry$edf1), type = 0, res.df = rdf)
      entry$test <- list(stat = ts$stat, pval = ts$pval, rank = ts$rank)
    } else {
      rind <- which(vapply(seq_along(fit$smooth), function(j)
        isTRUE(fit$smooth[[j]]$random) && j != i, logical(1)))
      rc <- mgcv:::recov(fit, rind, i)
      rt <- mgcv:::reTest(fit, i)
      entry$random_others <- I(as.integer(rind - 1L))   # 0-based smooth indices
      entry$Rm <- rows(rc$Rm)
      entry$Ve_term <- rows(rc$Ve[ii, ii, drop = FALSE])
      entry$test <- list(stat = rt$stat, pval = rt$pval, rank = rt$rank)
    }
    smooths[[length(smooths) + 1]] <- entry
  }
  Filter(Negate(is.null), list(
    name = name,
    description = description,
    family = fit$family$family,
    link = fit$family$link,
    n = length(fit$y),
    scale_estimated = fit$scale.estimated,
    sig2 = fit$sig2,
    df_residual = fit$df.residual,
    residual_df = residual_df,
    coefficients = unname(coef(fit)),
    R = rows(fit$R),
    Vp = rows(fit$Vp),
    Ve = rows(fit$Ve),
    F = if (is.null(fit$F)) NULL else rows(fit$F),   # NULL (absent) for GCV fits
    S = rows(total_penalty(fit)),
    edf = unname(fit$edf),
    edf1 = unname(fit$edf1),
    smooths = smooths
  ))
}

models <- list()

# A: Gaussian, two real effects, one null smooth, one linear effect (edf ~ 1).
set.seed(20130401)
n <- 300
d <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n)), x3 = r15(runif(n)), x4 = r15(runif(n)))
d$y <- r15(sin(2 * pi * d$x1) + 1.5 * (d$x2 - 0.5)^2 + 0.4 * d$x4 + rnorm(n, sd = 0.4))
fit <- gam(y ~ s(x1, bs = "cr") + s(x2, bs = "cr") + s(x3, bs = "cr") + s(x4, bs = "cr"),
           data = d, method = "REML")
models[[length(models) + 1]] <- record_model(
  "gaussian_cr", "sin(2 pi x1) + 1.5 (x2-.5)^2 + 0.4 x4, x3 null; REML", fit)

# B: binomial (known scale: chi-square tests), one real effect and one null smooth.
set.seed(7)
n <- 500
d <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n)))
d$y <- rbinom(n, 1, plogis(1.5 * sin(2 * pi * d$x1) - 0.2))
fit <- gam(y ~ s(x1, bs = "cr") + s(x2, bs = "cr"), family = binomial, data = d,
           method = "REML")
models[[length(models) + 1]] <- record_model(
  "binomial_cr", "logit P = 1.5 sin(2 pi x1) - .2, x2 null; REML", fit)

# C: Gaussian with one random intercept (reTest with no other random terms).
set.seed(11)
n <- 240
g <- factor(sample(letters[1:12], n, replace = TRUE))
u <- rnorm(12, sd = 0.5)
d <- data.frame(x1 = r15(runif(n)), g = g)
d$y <- r15(cos(2 * pi * d$x1) + u[as.integer(g)] + rnorm(n, sd = 0.6))
fit <- gam(y ~ s(x1, bs = "cr") + s(g, bs = "re"), data = d, method = "REML")
models[[length(models) + 1]] <- record_model(
  "gaussian_re", "cos(2 pi x1) + u_g, 12 groups; REML", fit)

# D: Poisson, two random intercepts (one null) and a shrinkage smooth (both take reTest).
set.seed(3)
n <- 400
g <- factor(sample(paste0("g", 1:10), n, replace = TRUE))
h <- factor(sample(paste0("h", 1:8), n, replace = TRUE))
u <- rnorm(10, sd = 0.4)
d <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n)), g = g, h = h)
d$y <- rpois(n, exp(0.5 + sin(2 * pi * d$x1) + 0.6 * d$x2 + u[as.integer(g)]))
fit <- gam(y ~ s(x1, bs = "cr") + s(x2, bs = "cs") + s(g, bs = "re") + s(h, bs = "re"),
           family = poisson, data = d, method = "REML")
models[[length(models) + 1]] <- record_model(
  "poisson_re_cs", "log mu = .5 + sin(2 pi x1) + .6 x2 + u_g, h null; REML", fit)

# E: Gaussian, huge effects (p-values far below 1e-10).
set.seed(5)
n <- 400
d <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n)))
d$y <- r15(3 * sin(2 * pi * d$x1) + 2 * d$x2 + exp(2 * d$x2) / 4 + rnorm(n, sd = 0.3))
fit <- gam(y ~ s(x1, bs = "cr") + s(x2, bs = "cr"), data = d, method = "REML")
models[[length(models) + 1]] <- record_model(
  "gaussian_huge", "3 sin(2 pi x1) + 2 x2 + exp(2 x2)/4, sd .3; REML", fit)

# F: Poisson, huge effect (known scale; chi-square reference) and a mild one.
set.seed(9)
n <- 400
d <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n)))
d$y <- rpois(n, exp(1 + 1.2 * sin(2 * pi * d$x1) + 0.15 * d$x2))
fit <- gam(y ~ s(x1, bs = "cr") + s(x2, bs = "cr"), family = poisson, data = d, method = "REML")
models[[length(models) + 1]] <- record_model(
  "poisson_huge", "log mu = 1 + 1.2 sin(2 pi x1) + .15 x2; REML", fit)

# G: Gaussian with a GCV fit and prior weights (a different optimiser and W != I).
set.seed(21)
n <- 250
d <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n)), w = r15(runif(n, 0.5, 2)))
d$y <- r15(0.8 * d$x1 + 0.3 * sin(3 * d$x2) + rnorm(n, sd = 0.5 / sqrt(d$w)))
fit <- gam(y ~ s(x1, bs = "cr", k = 6) + s(x2, bs = "cr", k = 8), weights = w, data = d)
models[[length(models) + 1]] <- record_model(
  "gaussian_weights_gcv", "0.8 x1 + .3 sin(3 x2), prior weights; GCV.Cp", fit)

# ----------------------------------------------------------------------------- testStat direct
set.seed(101)
teststat <- list()
ts_case <- function(p, X, V, rank, res.df) {
  r <- mgcv:::testStat(p, X, V, rank, type = 0, res.df = res.df)
  list(p = p, X = rows(X), V = rows(V), rank = rank, res_df = res.df,
       stat = r$stat, pval = r$pval, ref_df = r$rank)
}
for (m in c(1, 3, 5)) {
  for (rank in c(0.4, 1, 1.7, 2, 2.5, 3.35, 4.9, 5)) {
    if (rank > m) next
    for (res.df in c(-1, 45.3)) {
      for (scale in c(0.02, 0.3)) {
        X <- matrix(r15(rnorm(60 * m)), 60, m)
        A <- matrix(rnorm(m * m), m, m)
        V <- r15(crossprod(A) / m * scale)
        V <- (V + t(V)) / 2
        p <- r15(rnorm(m, sd = 0.3))
        teststat[[length(teststat) + 1]] <- ts_case(p, X, V, rank, res.df)
      }
    }
  }
}
# rank limited by r.est: V of rank 2 with rank argument 3.5
X <- matrix(r15(rnorm(40 * 4)), 40, 4)
A <- matrix(rnorm(8), 2, 4)
V <- r15(crossprod(A))
V <- (V + t(V)) / 2
teststat[[length(teststat) + 1]] <- ts_case(r15(rnorm(4)), X, V, 3.5, -1)
teststat[[length(teststat) + 1]] <- ts_case(r15(rnorm(4)), X, V, 3.5, 30)

# ----------------------------------------------------------------------------- Davies / Liu
davies_case <- function(q, lb, df = rep(1, length(lb))) {
  p <- suppressWarnings(mgcv:::psum.chisq(q, lb, df = df, trace = TRUE))
  list(q = q, lb = lb, df = df, p = as.numeric(p), trace = attr(p, "trace"),
       ifault = attr(p, "ifault"))
}
davies <- list()
val2 <- function(k, nu) {
  val <- rep(1, k + 1); rp <- nu + 1
  val[k] <- (rp + sqrt(rp * (2 - rp))) / 2; val[k + 1] <- rp - val[k]
  val
}
for (q in c(0.5, 3, 8, 20, 45, 90)) {
  davies[[length(davies) + 1]] <- davies_case(q, val2(3, 0.37))
  davies[[length(davies) + 1]] <- davies_case(q, c(2.5, 1.1, 0.3, 0.05))
}
for (k0 in c(1, 7, 60, 400, 5000)) {
  for (dd in c(0.5, 4, 15, 40, 150)) {
    davies[[length(davies) + 1]] <- davies_case(0, c(val2(4, 0.62), -dd / k0),
                                                df = c(rep(1, 5), k0))
  }
}
davies[[length(davies) + 1]] <- davies_case(6, c(3, -1, 0.5), df = c(2, 3, 1))
davies[[length(davies) + 1]] <- davies_case(-2, c(3, -1, 0.5), df = c(2, 3, 1))
davies[[length(davies) + 1]] <- davies_case(1e4, c(1, 1))   # beyond the range: exactly 0
set.seed(17)
for (i in 1:6) {
  ev <- sort(rexp(8) ^ 2, decreasing = TRUE)
  davies[[length(davies) + 1]] <- davies_case(sum(ev) * c(0.3, 1, 2.5, 5, 8, 12)[i], ev)
  davies[[length(davies) + 1]] <- davies_case(0, c(ev, -sum(ev) * c(0.3, 1, 2.5, 5, 8, 12)[i] / 80),
                                              df = c(rep(1, 8), 80))
}

# many weights (as reTest with many levels): exercises cfe's failure branch (sum1 > 100)
set.seed(23)
for (m in c(120, 200)) {
  for (s in c(0.3, 1.5, 3)) {
    ev <- sort(exp(rnorm(m, 0, s)), decreasing = TRUE)
    for (f in c(0.6, 1.8)) davies[[length(davies) + 1]] <- davies_case(sum(ev) * f, ev)
    davies[[length(davies) + 1]] <- davies_case(0, c(ev, -sum(ev) * 1.3 / 300), df = c(rep(1, m), 300))
  }
}
# a convergence factor is used from the start (trace[6] > 0)
davies[[length(davies) + 1]] <- davies_case(9.178, c(3.025, 0.192, 0.608, -0.283))
# cfe fails (sum1 > 100) for the initial convergence factor
davies[[length(davies) + 1]] <- davies_case(47.603,
  c(7.875, 1.05, 0.066, -0.532, 0.466, 10.873, 0.305, -0.684, -0.66, -0.566, 0.254, -1.389,
    5.029, 2.55, 0.249, 0.178, -1.195, 0.347, -0.389, 0.08, -18.648, 3.955, 0.232, 3.905,
    -7.491, 0.028, 0.439, -0.559, -2.644, 0.833, 0.708, 0.916, 16.119),
  df = c(6, 28, 3, 16, 28, 14, 11, 17, 6, 21, 1, 17, 2, 1, 7, 21, 13, 13, 18, 3, 29, 15, 26,
         22, 8, 9, 18, 25, 27, 15, 3, 29, 25))

liu <- list()
for (q in c(0.2, 2, 10, 40)) {
  for (lb in list(c(1, 1, 0.4), c(3, 0.5, 0.5, 0.1), c(2, 2), c(1.3, 0.2, 0.2, 0.2, 0.2))) {
    liu[[length(liu) + 1]] <- list(q = q, lb = lb, h = rep(1, length(lb)),
                                   p = mgcv:::liu2(q, lb), p_lower = mgcv:::liu2(q, lb, lower.tail = TRUE))
  }
}
liu[[length(liu) + 1]] <- list(q = 5, lb = c(1.5, 0.7), h = c(3, 2),
                               p = mgcv:::liu2(5, c(1.5, 0.7), h = c(3, 2)),
                               p_lower = mgcv:::liu2(5, c(1.5, 0.7), h = c(3, 2), lower.tail = TRUE))

golden <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  generated_by = "tests/golden/make_smooth_test_golden.R",
  models = models,
  teststat = teststat,
  davies = davies,
  liu2 = liu
)
out_file <- file.path(out_dir, "smooth_test.json")
write_json(golden, out_file, digits = NA, auto_unbox = TRUE)
cat(sprintf("wrote %s (%.2f MB) in %.1f s\n", out_file, file.size(out_file) / 2^20,
            proc.time()[["elapsed"]] - t_start))
