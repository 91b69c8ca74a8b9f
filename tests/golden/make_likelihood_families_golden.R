# Golden values from R mgcv 1.8-41 for the likelihood families ocat, nb and multinom
# (gkrls/families/{ocat,nb,multinom}.py) and their Laplace-REML fitter (gkrls/likelihood.py).
#
# Run from the repository root:   Rscript tests/golden/make_likelihood_families_golden.R
# Needs R with mgcv and jsonlite. Writes tests/golden/likelihood_families.json (< 1 MB) in a
# few seconds; deterministic (a rerun gives a byte-identical JSON).
#
# Every case exports the penalized problem exactly as mgcv fitted it, so that the Python test
# fits the same problem without rebuilding any basis:
#   X            predict(fit, type = "lpmatrix") (rows; multinom: the stacked matrix)
#   lpi          0-based column indices of each linear predictor in X / in the coefficients
#                (one predictor for ocat and nb: all columns)
#   penalties    one per smooth: start, stop (0-based, stop exclusive, into the stacked
#                coefficient vector), S = fit$smooth[[j]]$S[[1]] (mgcv's scaled penalty that
#                fit$sp multiplies), rank
#   y, w         response (ocat: 1..R; multinom: 0..K; nb: counts) and prior weights
# and what R reports:
#   coefficients, sp, reml (= fit$gcv.ubre), edf (fit$edf, per coefficient), Vp (rows),
#   linear_predictors (vector, or rows of K for multinom K >= 2), fitted (predict type =
#   "response": ocat rows of R category probabilities, multinom rows of K + 1, nb means),
#   theta (working scale: ocat log cut-point increments, nb log theta; [] if none),
#   theta_natural (ocat cut points with the first at -1, nb theta), outer_grad, conv.
# All fits use gam.control(epsilon = 1e-9, newton = list(conv.tol = 1e-9)).
# Cases whose family mgcv cannot fit (ocat R = 2: mgcv 1.8-41 fails in dDeta) carry instead
# the binomial logit fit of the same data (y == 2) under "binomial": the identity
# ocat(R = 2) = binomial logit with the intercept shifted by the fixed cut point -1.
# multinom: mgcv's multinom ll starts the reference predictor at 1 instead of 0, so its
# log-likelihood (and gcv.ubre) differ from the true ones by the number of y == 0 rows
# (n_y0): reml + n_y0 is the true Laplace-REML value. It also ignores prior weights (w = 1).
# Inputs are rounded to 6 decimals before fitting (exact in JSON).

suppressPackageStartupMessages({
  library(mgcv)
  library(jsonlite)
})
r6 <- function(x) round(x, 6)
rows <- function(m) unname(as.matrix(m))

export <- function(fit, y, w, extra = list()) {
  X <- predict(fit, type = "lpmatrix")
  lpi <- attr(X, "lpi")
  if (is.null(lpi)) lpi <- list(seq_len(ncol(X)))
  pens <- lapply(fit$smooth, function(sm) list(
    label = sm$label, start = sm$first.para - 1L, stop = sm$last.para,
    S = rows(sm$S[[1]]), rank = sm$rank))
  fam <- fit$family
  theta <- if (!is.null(fam$getTheta)) fam$getTheta() else numeric(0)
  theta_nat <- if (!is.null(fam$getTheta)) fam$getTheta(TRUE) else numeric(0)
  if (fam$family == "multinom") theta <- theta_nat <- numeric(0)
  lp <- fit$linear.predictors
  fitted <- predict(fit, type = "response")
  out <- list(
    family = fam$family, X = rows(X), lpi = lapply(lpi, function(i) I(i - 1L)),
    penalties = pens, y = I(as.numeric(y)), w = I(as.numeric(w)),
    coefficients = I(unname(coef(fit))), sp = I(unname(fit$sp)),
    reml = as.numeric(fit$gcv.ubre), edf = I(unname(fit$edf)), Vp = rows(fit$Vp),
    linear_predictors = if (is.matrix(lp)) rows(lp) else I(as.numeric(lp)),
    fitted = if (is.matrix(fitted)) rows(fitted) else I(as.numeric(fitted)),
    theta = I(as.numeric(theta)), theta_natural = I(as.numeric(theta_nat)),
    outer_grad = I(as.numeric(fit$outer.info$grad)), conv = fit$outer.info$conv,
    formula = paste(deparse(fit$formula), collapse = " "))
  c(out, extra)
}

# mgcv's default outer tolerance (conv.tol = 1e-6) leaves sp ~1e-4 from the optimum in
# the multinom case; a tighter one makes the reference values the optimum's to ~1e-8
ctrl <- gam.control(epsilon = 1e-9, newton = list(conv.tol = 1e-9))

cases <- list()
set.seed(20240611)

# 1. ocat, R = 4, two smooths and a linear term
n <- 400
x1 <- r6(runif(n)); x2 <- r6(runif(n)); z <- r6(rnorm(n))
ystar <- sin(2 * pi * x1) + 1.5 * (x2 - 0.5)^2 * 4 + 0.6 * z + rlogis(n)
y <- 1 + findInterval(ystar, c(0, 1.2, 2.4))
w <- rep(1, n)
fit <- gam(y ~ z + s(x1, bs = "cr", k = 10) + s(x2, bs = "cr", k = 8), family = ocat(R = 4),
           method = "REML", control = ctrl)
cases$ocat4 <- export(fit, y, w, list(R = 4L))

# 2. ocat, R = 2: mgcv cannot fit it; the binomial logit of (y == 2) is the reference
n <- 400
x1 <- r6(runif(n)); z <- r6(rnorm(n))
y <- 1 + rbinom(n, 1, plogis(0.3 + sin(2 * pi * x1) + 0.7 * z))
w <- rep(1, n)
yb <- as.numeric(y == 2)
fitb <- gam(yb ~ z + s(x1, bs = "cr", k = 10), family = binomial, method = "REML", control = ctrl)
cases$ocat2 <- c(list(R = 2L), binomial = list(export(fitb, y, w)))
cases$ocat2$binomial$note <- "binomial logit fit of (y == 2); ocat(R = 2) fails in mgcv 1.8-41"

# 3. multinom, K = 2, different smooths per linear predictor
n <- 500
x1 <- r6(runif(n)); x2 <- r6(runif(n)); z <- r6(rnorm(n))
e1 <- 0.4 + sin(2 * pi * x1) + 0.5 * z
e2 <- -0.2 + 1.5 * cos(2 * pi * x2)
pr <- cbind(1, exp(e1), exp(e2)); pr <- pr / rowSums(pr)
y <- apply(pr, 1, function(p) sample(0:2, 1, prob = p))
w <- rep(1, n)
fit <- gam(list(y ~ z + s(x1, bs = "cr", k = 10), ~ s(x2, bs = "cr", k = 8)),
           family = multinom(K = 2), method = "REML", control = ctrl)
cases$multinom2 <- export(fit, y, w, list(K = 2L, n_y0 = sum(y == 0)))

# 4. multinom, K = 1 (= binomial logit): both fits
n <- 400
x1 <- r6(runif(n)); z <- r6(rnorm(n))
y <- rbinom(n, 1, plogis(-0.2 + sin(2 * pi * x1) + 0.6 * z))
w <- rep(1, n)
fit <- gam(list(y ~ z + s(x1, bs = "cr", k = 10)), family = multinom(K = 1), method = "REML", control = ctrl)
fitb <- gam(y ~ z + s(x1, bs = "cr", k = 10), family = binomial, method = "REML", control = ctrl)
cases$multinom1 <- export(fit, y, w, list(K = 1L, n_y0 = sum(y == 0),
                                          binomial = export(fitb, y, w)))

# 5. nb, theta estimated, two smooths
n <- 400
x1 <- r6(runif(n)); x2 <- r6(runif(n)); z <- r6(rnorm(n))
mu <- exp(1 + 0.8 * sin(2 * pi * x1) + 0.5 * z + (x2 - 0.5)^2 * 3)
y <- rnbinom(n, size = 2.5, mu = mu)
w <- rep(1, n)
fit <- gam(y ~ z + s(x1, bs = "cr", k = 10) + s(x2, bs = "cr", k = 8), family = nb(),
           method = "REML", control = ctrl)
cases$nb <- export(fit, y, w)

# 6. nb, theta fixed at 3, with prior weights
n <- 300
x1 <- r6(runif(n)); z <- r6(rnorm(n))
mu <- exp(0.5 + sin(2 * pi * x1) + 0.4 * z)
y <- rnbinom(n, size = 3, mu = mu)
w <- as.numeric(sample(1:3, n, replace = TRUE))
fit <- gam(y ~ z + s(x1, bs = "cr", k = 10), family = nb(theta = 3), weights = w,
           method = "REML", control = ctrl)
cases$nb_fixed <- export(fit, y, w, list(theta_fixed = 3))

res <- list(r_version = R.version.string, mgcv_version = as.character(packageVersion("mgcv")),
            generated_by = "tests/golden/make_likelihood_families_golden.R", cases = cases)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"),
           file.path("tests", "golden", "likelihood_families.json"))
cat("wrote tests/golden/likelihood_families.json\n")
for (nm in names(cases)) {
  cc <- cases[[nm]]
  if (!is.null(cc$binomial) && is.null(cc$reml)) cc <- cc$binomial
  cat(nm, ": reml", format(cc$reml, digits = 12), " sp", format(cc$sp, digits = 6),
      " theta", format(cc$theta_natural, digits = 6), " conv", cc$conv,
      " max|grad|", format(max(abs(cc$outer_grad)), digits = 3), "\n")
}
