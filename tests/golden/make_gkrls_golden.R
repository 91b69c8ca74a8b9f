# Generate golden values from R gKRLS + mgcv for flexcausal's fc.gam().
#
# Run from the repository root:   Rscript tests/golden/make_gkrls_golden.R
# Needs R with mgcv, jsonlite and gKRLS installed in /opt/rlib (see tests/golden/install_r.sh).
#
# Writes tests/golden/gkrls_gaussian.json and tests/golden/cr_basis.json.
#
# Note on precision: jsonlite writes at most 15 significant digits, so all *input* data are
# rounded with signif(, 15) before fitting; they then survive the JSON round trip exactly and
# Python sees bit-identical data. Outputs carry 15 significant digits.

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(gKRLS)
  library(jsonlite)
})

t_start <- proc.time()[["elapsed"]]
source(file.path("tests", "golden", "golden_helpers.R"))

# ----------------------------------------------------------------------------- DGPs
dgp_three_hills <- function(n) {
  x1 <- r15(runif(n, 0, 2 * pi)); x2 <- r15(runif(n, 0, 2 * pi))
  y <- r15(sin(x1) * cos(x2) + rnorm(n, 0, 0.5))
  data.frame(y = y, x1 = x1, x2 = x2)
}

g_levels <- paste0("g", 1:8)
u_g <- NULL   # random effects of case b, drawn once (shared by train and new data)
dgp_linear_krls_re <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  g <- factor(sample(g_levels, n, replace = TRUE), levels = g_levels)
  y <- r15(x3 + sin(x1) + 0.5 * x2^2 + u_g[as.integer(g)] + rnorm(n))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3, g = g)
}

dgp_spline <- function(n) {
  x <- r15(runif(n)); z <- r15(rnorm(n))
  y <- r15(sin(2 * pi * x) + 0.5 * z + rnorm(n, 0, 0.3))
  data.frame(y = y, x = x, z = z)
}

f_levels <- c("a", "b", "c")
dgp_three_hills_factor <- function(n) {
  x1 <- r15(runif(n, 0, 2 * pi)); x2 <- r15(runif(n, 0, 2 * pi))
  f <- factor(sample(f_levels, n, replace = TRUE), levels = f_levels)
  f_eff <- c(a = 0, b = 0.5, c = -0.5)[as.character(f)]
  y <- r15(sin(x1) * cos(x2) + unname(f_eff) + rnorm(n, 0, 0.5))
  data.frame(y = y, x1 = x1, x2 = x2, f = f)
}

dgp_two_krls <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n)); x4 <- r15(rnorm(n))
  y <- r15(sin(x1) + cos(x2) + x3 * x4 + rnorm(n, 0, 0.5))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3, x4 = x4)
}

# ----------------------------------------------------------------------------- helpers

# an empty list written as {} rather than []
named_list <- function(l) if (length(l) == 0) setNames(list(), character(0)) else l

kernel_info <- function(sm, N) {
  P_orig <- sm$ev_orig   # gKRLS stores the *untruncated* penalty matrix under ev_orig
  ev <- if (is.null(P_orig)) NULL else eigen(P_orig, symmetric = TRUE, only.values = TRUE)$values
  list(
    label = sm$label,
    term = I(sm$term),
    standardize = sm$xt$standardize,
    sketch_method = sm$xt$sketch_method,
    n_train = N,
    sketch_size = nrow(sm$X_train),
    n_cols_kept = sm$df,   # columns after eigen-truncation (= last.para - first.para + 1)
    n_truncated = nrow(sm$X_train) - sm$df,
    truncate_eigen_tol = sm$xt$truncate.eigen.tol,
    bandwidth = sm$bandwidth,
    penalty_eigenvalues_untruncated = I(ev),
    std_mean = I(as.numeric(sm$std_train$mean)),
    std_whiten = rows(sm$std_train$whiten),
    X_train_std_dim = I(dim(sm$X_train)),
    fd_flag = I(unname(as.integer(sm$fd_flag))),
    factor_levels = named_list(lapply(Filter(Negate(is.null), sm$term_levels), I)),
    S_scale = sm$S.scale,
    demean_kernel = sm$xt$demean_kernel,
    rescale_penalty = sm$xt$rescale_penalty,
    no_rescale = !is.null(sm$no.rescale) && isTRUE(sm$no.rescale)
  )
}

fit_case <- function(name, seed, dgp, n, formula_py, formula_r, n_krls, sketch = TRUE,
                     big = TRUE, pre = NULL) {
  set.seed(seed)
  if (!is.null(pre)) pre()
  data <- dgp(n)
  newdata <- dgp(50)
  # custom sketch indices: idx1, idx2, ... live in this environment (formula env)
  idx_list <- if (sketch) draw_sketches(n, n_krls, environment()) else list()
  fml <- as.formula(formula_r, env = environment())
  fit <- gam(fml, data = data, method = "REML")

  pr <- predict(fit, newdata = newdata, type = "link", se.fit = TRUE)
  edf_by_smooth <- list()
  first_last <- list()
  S_list <- list()
  S_scale <- list()
  kinfo <- setNames(list(), character(0))
  for (j in seq_along(fit$smooth)) {
    sm <- fit$smooth[[j]]
    edf_by_smooth[[sm$label]] <- sum(fit$edf[sm$first.para:sm$last.para])
    first_last[[sm$label]] <- I(c(sm$first.para, sm$last.para))
    S_list[[j]] <- rows(sm$S[[1]])
    S_scale[[sm$label]] <- sm$S.scale
    if (inherits(sm, "gKRLS.smooth")) kinfo[[sm$label]] <- kernel_info(sm, n)
  }
  case <- list(
    formula_py = formula_py,
    formula_r = formula_r,
    n = n,
    seed = seed,
    data = df_to_list(data),
    newdata = df_to_list(newdata)
  )
  if (length(idx_list) > 0) case$sketch_indices <- idx_list
  case <- c(case, list(
    coefficients = I(unname(coef(fit))),
    coef_names = I(names(coef(fit))),
    fitted = I(unname(fit$fitted.values)),
    linear_predictors = I(unname(fit$linear.predictors)),
    predict_link = I(unname(as.numeric(pr$fit))),
    predict_se = I(unname(as.numeric(pr$se.fit))),
    sp = I(unname(fit$sp)),
    sp_names = I(names(fit$sp)),
    edf = I(unname(fit$edf)),
    edf_by_smooth = edf_by_smooth,
    edf_total = sum(fit$edf),
    scale = fit$scale,
    sig2 = fit$sig2,
    reml = as.numeric(fit$gcv.ubre),
    converged = fit$converged,
    outer_info = list(conv = fit$outer.info$conv, iter = fit$outer.info$iter),
    smooth_labels = I(vapply(fit$smooth, function(s) s$label, "")),
    S = S_list,
    S_scale = S_scale,
    smooth_first_last = first_last,
    n_coef_parametric = fit$nsdf,
    kernel_info = kinfo
  ))
  if (big) {
    case$Vp <- rows(fit$Vp)
    case$Ve <- rows(fit$Ve)
    case$lpmatrix <- rows(predict(fit, type = "lpmatrix"))
  }
  # sanity: the data must survive the JSON round trip bit for bit
  for (nm in names(data)) if (is.numeric(data[[nm]])) {
    back <- fromJSON(toJSON(data[[nm]], digits = NA))
    if (!identical(back, as.numeric(data[[nm]]))) stop("data column ", nm, " does not round-trip")
  }
  cat(sprintf("%-20s n=%d ncoef=%d sp=%s reml=%.6f edf=%.3f\n", name, n, length(coef(fit)),
              paste(signif(fit$sp, 4), collapse = ","), fit$gcv.ubre, sum(fit$edf)))
  list(case = case, data = data)
}

# ----------------------------------------------------------------------------- cases
cases <- list()
cr_data <- NULL

res <- fit_case("three_hills", 101, dgp_three_hills, 400,
  'y ~ krls(x1, x2)',
  'y ~ s(x1, x2, bs = "gKRLS", xt = gKRLS(sketch_method = idx1))', 1)
cases$three_hills <- res$case

res <- fit_case("linear_krls_re", 102, dgp_linear_krls_re, 400,
  'y ~ x3 + krls(x1, x2) + re(g)',
  'y ~ x3 + s(x1, x2, bs = "gKRLS", xt = gKRLS(sketch_method = idx1)) + s(g, bs = "re")', 1,
  pre = function() u_g <<- rnorm(8, 0, 0.7))
cases$linear_krls_re <- res$case
cases$linear_krls_re$u_g <- I(u_g)   # true random effects (g1..g8), for reference

res <- fit_case("spline_cr", 103, dgp_spline, 400,
  'y ~ z + s(x, bs="cr", k=10)',
  'y ~ z + s(x, bs = "cr", k = 10)', 0, sketch = FALSE)
cases$spline_cr <- res$case
cr_data <- res$data

res <- fit_case("spline_cr_krls", 103, dgp_spline, 400,
  'y ~ s(x, bs="cr", k=10) + krls(z, x)',
  'y ~ s(x, bs = "cr", k = 10) + s(z, x, bs = "gKRLS", xt = gKRLS(sketch_method = idx1))', 1)
cases$spline_cr_krls <- res$case
stopifnot(identical(res$data, cr_data))  # same seed -> same data as spline_cr

res <- fit_case("sketch_none", 104, dgp_three_hills, 150,
  'y ~ krls(x1, x2, sketch="none")',
  'y ~ s(x1, x2, bs = "gKRLS", xt = gKRLS(sketch_method = "none"))', 1, sketch = FALSE)
cases$sketch_none <- res$case

res <- fit_case("scaled_standardize", 105, dgp_three_hills_factor, 300,
  'y ~ krls(x1, x2, f, standardize="scaled")',
  'y ~ s(x1, x2, f, bs = "gKRLS", xt = gKRLS(sketch_method = idx1, standardize = "scaled"))', 1)
cases$scaled_standardize <- res$case

res <- fit_case("two_krls", 106, dgp_two_krls, 400,
  'y ~ krls(x1, x2) + krls(x3, x4)',
  'y ~ s(x1, x2, bs = "gKRLS", xt = gKRLS(sketch_method = idx1)) + s(x3, x4, bs = "gKRLS", xt = gKRLS(sketch_method = idx2))', 2)
cases$two_krls <- res$case

golden <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  gkrls_version = as.character(packageVersion("gKRLS")),
  generated_by = "tests/golden/make_gkrls_golden.R",
  cases = cases
)
write_json(golden, file.path(out_dir, "gkrls_gaussian.json"), digits = NA, auto_unbox = TRUE)

# ----------------------------------------------------------------------------- cr basis
set.seed(201)
cr_df <- data.frame(x = cr_data$x)
rng <- range(cr_df$x)
x_new <- r15(sort(runif(20, rng[1], rng[2])))
sm_abs <- smoothCon(s(x, bs = "cr", k = 10), data = cr_df, absorb.cons = TRUE,
                    scale.penalty = TRUE)[[1]]
sm_raw <- smoothCon(s(x, bs = "cr", k = 10), data = cr_df, absorb.cons = FALSE,
                    scale.penalty = TRUE)[[1]]
sm_raw_unscaled <- smoothCon(s(x, bs = "cr", k = 10), data = cr_df, absorb.cons = FALSE,
                             scale.penalty = FALSE)[[1]]
cr <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  x = I(cr_df$x),
  x_new = I(x_new),
  k = 10,
  knots = I(as.numeric(sm_abs$xp)),
  absorbed = list(
    X = rows(sm_abs$X),
    S = rows(sm_abs$S[[1]]),
    S_scale = sm_abs$S.scale,
    predict = rows(PredictMat(sm_abs, data.frame(x = x_new)))
  ),
  raw = list(
    X = rows(sm_raw$X),
    S = rows(sm_raw$S[[1]]),
    S_scale = sm_raw$S.scale,
    S_unscaled = rows(sm_raw_unscaled$S[[1]]),
    C = rows(sm_raw$C),
    predict = rows(PredictMat(sm_raw, data.frame(x = x_new)))
  )
)
write_json(cr, file.path(out_dir, "cr_basis.json"), digits = NA, auto_unbox = TRUE)

cat(sprintf("done in %.1f s\n", proc.time()[["elapsed"]] - t_start))
