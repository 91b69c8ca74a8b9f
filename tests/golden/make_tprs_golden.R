# Golden values for mgcv's thin plate regression spline, s(..., bs = "tp"), as set up by
#   smoothCon(s(...), data, absorb.cons = TRUE, scale.penalty = TRUE)[[1]]
# and evaluated on new data by PredictMat (flexcausal.gkrls.bases.tprs).
#
# Run from the repository root:   Rscript tests/golden/make_tprs_golden.R
# Writes tests/golden/tprs_basis.json.
#
# Inputs are rounded with r15() (golden_helpers.R) so they survive the 15-digit JSON round
# trip bit for bit. Eigenvector signs are arbitrary, so besides X, S and PredictMat the
# script records (a) the sign of the largest entry of each eigenvector of E as mgcv's own
# Lanczos routine (slanczos, same tolerance as tprs_setup) returns it, which lets Python
# reproduce mgcv's parametrisation exactly, and (b) sign-invariant penalized fits
# X (X'X + lambda S)^-1 X'y and their predictions at the new points.

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(jsonlite)
})
source(file.path("tests", "golden", "golden_helpers.R"))

# mgcv tprs.c eta_const / fast_eta, as a function of the squared distance
eta_sq <- function(r2, d, m) {
  if (d %% 2 == 0) {
    cst <- (-1)^(m + 1 + d / 2) / (2^(2 * m - 1) * pi^(d / 2) * factorial(m - 1) *
                                     factorial(m - d / 2))
    out <- cst * 0.5 * log(r2) * r2^(m - d / 2)
  } else {
    cst <- gamma(d / 2 - m) / (2^(2 * m) * pi^(d / 2) * factorial(m - 1))
    out <- cst * r2^((2 * m - d) / 2)
  }
  out[r2 <= 0] <- 0
  out
}

# the order tprs.c uses: p.order[1] when 2m > d, else the smallest m with 2m > d + 1
order_m <- function(sm) {
  d <- sm$dim; m <- sm$p.order[1]
  if (2 * m > d) return(m)
  m <- 1
  while (2 * m < d + 2) m <- m + 1
  m
}

eigen_signs <- function(sm, k) {
  Xu <- sm$Xu
  if (nrow(Xu) == k) return(NULL)  # no eigen step
  d <- ncol(Xu)
  r2 <- as.matrix(dist(Xu))^2
  E <- eta_sq(r2, d, order_m(sm))
  ev <- mgcv:::slanczos(E, k = k, kl = -1, tol = .Machine$double.eps^0.7)
  # the first entry within 1e-6 of the largest |entry| (exact ties in symmetric designs)
  idx <- apply(abs(ev$vectors), 2, function(a) which(a >= max(a) * (1 - 1e-6))[1])
  list(values = ev$values, index = I(idx - 1L),
       sign = I(sign(ev$vectors[cbind(idx, seq_len(k))])))
}

lams <- c(1e-4, 1e-1, 10, 1e3)

one_case <- function(name, X, Xnew, k = NA, m = NA, x_rows = NULL) {
  d <- ncol(X)
  vars <- paste0("x", seq_len(d))
  df <- setNames(as.data.frame(X), vars)
  dfn <- setNames(as.data.frame(Xnew), vars)
  args <- paste(vars, collapse = ", ")
  opt <- paste0(if (!is.na(k)) paste0(", k = ", k) else "",
                if (!is.na(m)) paste0(", m = ", m) else "")
  spec <- eval(parse(text = sprintf('s(%s, bs = "tp"%s)', args, opt)))
  sm <- smoothCon(spec, data = df, absorb.cons = TRUE, scale.penalty = TRUE)[[1]]
  S <- sm$S[[1]]
  Xp <- PredictMat(sm, dfn)
  kk <- sm$bs.dim
  y <- r15(sin(3 * rowSums(X)) + rnorm(nrow(X), 0, 0.3))
  if (is.null(x_rows)) x_rows <- seq_len(nrow(X))
  fits <- lapply(lams, function(l) {
    A <- cbind(1, sm$X)
    P <- matrix(0, ncol(A), ncol(A)); P[-1, -1] <- l * S
    b <- solve(crossprod(A) + P, crossprod(A, y))
    list(lambda = l, fitted = I(as.numeric(A[x_rows, , drop = FALSE] %*% b)),
         predicted = I(as.numeric(cbind(1, Xp) %*% b)))
  })
  out <- list(
    call = sprintf('s(%s, bs = "tp"%s)', args, opt),
    X = rows(X), X_new = rows(Xnew), y = I(y),
    k = kk, m = order_m(sm), rank = sm$rank, null_space_dim = sm$null.space.dim,
    n_coef = ncol(sm$X), shift = I(sm$shift), S_scale = sm$S.scale,
    n_knots = nrow(sm$Xu), knots = rows(sm$Xu),
    basis_rows = I(x_rows - 1L), basis = rows(sm$X[x_rows, , drop = FALSE]),
    penalty = rows(S), predict = rows(Xp),
    eigen = eigen_signs(sm, kk), fits = fits)
  n <- nrow(X)
  if (n > 2000) {  # the knot subsample, reproduced outside mgcv
    xc <- sweep(X, 2, sm$shift)
    xu <- uniquecombs(xc, TRUE)
    set.seed(1)
    out$n_unique <- nrow(xu)
    out$knot_sample <- I(sample(nrow(xu), 2000) - 1L)
  }
  cat(sprintf("%-14s %-38s k=%d m=%d n_knots=%d\n", name, out$call, kk, out$m, out$n_knots))
  out
}

set.seed(20240611)
cases <- list()
x1 <- r15(runif(200))
x1[c(7, 8, 9)] <- x1[6]  # tied covariate values
new1 <- matrix(r15(c(-0.1, 0, 0.25, 0.5, 0.77, 1, 1.2)), ncol = 1)
cases$d1_default <- one_case("d1_default", matrix(x1, ncol = 1), new1)
cases$d1_k5 <- one_case("d1_k5", matrix(x1, ncol = 1), new1, k = 5)
cases$d1_m3 <- one_case("d1_m3", matrix(x1, ncol = 1), new1, m = 3)
cases$d1_k5_m3 <- one_case("d1_k5_m3", matrix(x1, ncol = 1), new1, k = 5, m = 3)
# symmetric integer data: the linear column has colMeans exactly 0 (mgcv's partial
# constraint branch, `indi`)
xs <- rep(-10:10, 3) / 8  # exact binary fractions
cases$d1_symmetric <- one_case("d1_symmetric", matrix(xs, ncol = 1),
                               matrix(c(-1.5, -0.4375, 0, 0.53125, 1.375), ncol = 1))
# as many unique values as k: no eigen truncation
xp <- rep(r15(sort(runif(10)) * 3), 4)
cases$d1_pure_knot <- one_case("d1_pure_knot", matrix(xp, ncol = 1),
                               matrix(r15(c(0, 1.3, 2.9, 3.5)), ncol = 1), k = 10)

X2 <- matrix(r15(runif(600)), ncol = 2)
X2[5, ] <- X2[4, ]
new2 <- matrix(r15(c(0.5, 0.5, 0, 1, 1.1, -0.1, 0.3, 0.8, 0.01, 0.99)), ncol = 2, byrow = TRUE)
cases$d2_default <- one_case("d2_default", X2, new2, x_rows = 1:100)
cases$d2_k12_m3 <- one_case("d2_k12_m3", X2, new2, k = 12, m = 3, x_rows = 1:100)

X3 <- matrix(r15(rnorm(900)), ncol = 3)
new3 <- matrix(r15(rnorm(15)), ncol = 3)
cases$d3_k20 <- one_case("d3_k20", X3, new3, k = 20, x_rows = 1:100)
cases$d3_k20_m2 <- one_case("d3_k20_m2", X3, new3, k = 20, m = 2, x_rows = 1:100)

# more than 2000 unique rows: mgcv subsamples 2000 knots with set.seed(1); sample()
rows_big <- c(1:40, seq(41, 2400, by = 37))
xb <- r15(rnorm(2400))
cases$d1_subsample <- one_case("d1_subsample", matrix(xb, ncol = 1), new1, x_rows = rows_big)
Xb2 <- matrix(r15(runif(4600) * c(1, 100)), ncol = 2, byrow = TRUE)
Xb2[11:20, ] <- Xb2[1:10, ]  # duplicates among the data rows
cases$d2_subsample <- one_case("d2_subsample", Xb2, new2 * 50, x_rows = rows_big[1:60])

# default basis size and order for d = 1..4 covariates
defaults <- lapply(1:4, function(d) {
  df <- setNames(as.data.frame(matrix(runif(150 * d), ncol = d)), paste0("x", 1:d))
  spec <- eval(parse(text = sprintf('s(%s, bs = "tp")', paste0("x", 1:d, collapse = ", "))))
  sm <- smooth.construct(spec, df, NULL)
  list(d = d, k = sm$bs.dim, m = order_m(sm), null_space_dim = sm$null.space.dim)
})

# R's RNG: set.seed(seed); sample(n, size) (the last one takes sample.int's hash path)
rng <- lapply(list(c(1, 5000, 2000), c(42, 2100, 2000), c(-7, 70000, 3000),
                   c(123456789, 2001, 2000), c(5, 3e7, 5)), function(a) {
  set.seed(a[1])
  list(seed = a[1], n = a[2], size = a[3], sample = I(sample(a[2], a[3])))
})
set.seed(1)
runif_seed1 <- sprintf("%.17g", runif(10))

# as.character() of doubles (the uniquecombs keys), values written exactly with %.17g
set.seed(7)
vals <- c(0, 1, -1, 0.1, 1e5, 123456, 1e-4, 1e-5, 100000.5, 1e15, 1e16, 1/3, -2/3, 1e-300,
          99999.5, 999999.5, 1e21, 1e22, 1e23, 1e27, 1e28, 0.1 + 0.2, 3.663808104171995e-12,
          rnorm(1500) * 10^sample(-30:30, 1500, TRUE), runif(500) - 0.5,
          signif(rnorm(500), sample(1:16, 500, TRUE)))
as_char <- list(values = sprintf("%.17g", vals), strings = as.character(vals))

write_json(list(mgcv_version = as.character(packageVersion("mgcv")),
                r_version = R.version.string, cases = cases, defaults = defaults,
                rng = rng, runif_seed1 = runif_seed1, as_character = as_char),
           file.path(out_dir, "tprs_basis.json"), digits = NA, auto_unbox = TRUE)
