# Generate golden values from R gKRLS + mgcv + sandwich for flexcausal's GLM (non-Gaussian)
# gKRLS engine: fits, predictions, sandwich variances, and gKRLS marginal effects.
#
# Run from the repository root:   Rscript tests/golden/make_gkrls_glm_golden.R
# Needs R with mgcv, sandwich, jsonlite and gKRLS installed in /opt/rlib
# (see tests/golden/install_r.sh).
#
# Writes tests/golden/gkrls_glm.json.
#
# Conventions follow tests/golden/make_gkrls_golden.R: all *input* data are rounded with
# signif(, 15) so they survive the JSON round trip bit for bit; custom sketch indices are
# drawn in R (1-based) and stored 0-based under sketch_indices$krls1, ...; matrices are
# written row-major (one JSON array per row).
#
# Sandwich variances use gKRLS's estfun.gam (registered S3 method) together with
# sandwich's bread.gam and meatHC/meatCL; see `vcov_calls` in each case for the exact calls.

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(gKRLS)
  library(sandwich)
  library(jsonlite)
})

t_start <- proc.time()[["elapsed"]]
source(file.path("tests", "golden", "golden_helpers.R"))

N_NEW <- 30

# ----------------------------------------------------------------------------- DGPs
eta_bin <- function(x1, x2, x3) 0.5 * x3 + sin(x1) + 0.5 * x2 * x1 - 0.3

dgp_binary <- function(linkinv) {
  function(n) {
    x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
    y <- rbinom(n, 1, linkinv(eta_bin(x1, x2, x3)))
    data.frame(y = as.numeric(y), x1 = x1, x2 = x2, x3 = x3)
  }
}
cloglog_inv <- function(eta) 1 - exp(-exp(eta))

g10 <- sprintf("g%02d", 1:10)
g12 <- sprintf("g%02d", 1:12)
g15 <- sprintf("g%02d", 1:15)
u_g <- NULL   # random effects, drawn once per case in `pre` (shared by train and new data)

dgp_poisson_re <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n))
  g <- factor(sample(g10, n, replace = TRUE), levels = g10)
  mu <- exp(0.3 + 0.5 * sin(x1) + 0.3 * x2 + u_g[as.integer(g)])
  y <- rpois(n, mu)
  data.frame(y = as.numeric(y), x1 = x1, x2 = x2, g = g)
}

dgp_gamma <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n))
  mu <- exp(1 + 0.5 * sin(x1) + 0.3 * x2)
  y <- r15(rgamma(n, shape = 4, rate = 4 / mu))   # mean mu, shape 4
  data.frame(y = y, x1 = x1, x2 = x2)
}

dgp_proportion <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  w <- 1 + rpois(n, 5)
  succ <- rbinom(n, w, plogis(eta_bin(x1, x2, x3)))
  data.frame(y = r15(succ / w), x1 = x1, x2 = x2, x3 = x3, w = as.numeric(w))
}

dgp_gaussian_cluster <- function(n) {   # design of linear_krls_re (gkrls_gaussian.json), 12 groups
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  g <- factor(sample(g12, n, replace = TRUE), levels = g12)
  y <- r15(x3 + sin(x1) + 0.5 * x2^2 + u_g[as.integer(g)] + rnorm(n))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3, g = g)
}

dgp_gaussian_offset <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n)); x3 <- r15(rnorm(n)); o <- r15(runif(n))
  y <- r15(x3 + sin(x1) + 0.5 * x2^2 + o + rnorm(n))
  data.frame(y = y, x1 = x1, x2 = x2, x3 = x3, o = o)
}

dgp_linear_logit <- function(n) {   # g is a cluster id only (not in the model)
  x1 <- r15(rnorm(n)); x3 <- r15(rnorm(n))
  g <- factor(sample(g15, n, replace = TRUE), levels = g15)
  y <- rbinom(n, 1, plogis(0.2 + 0.8 * x1 - 0.5 * x3 + u_g[as.integer(g)]))
  data.frame(y = as.numeric(y), x1 = x1, x3 = x3, g = g)
}

f_levels <- c("a", "b", "c")
dgp_binary_factor <- function(n) {
  x1 <- r15(rnorm(n)); x2 <- r15(rnorm(n))
  f <- factor(sample(f_levels, n, replace = TRUE), levels = f_levels)
  f_eff <- unname(c(a = 0, b = 0.7, c = -0.5)[as.character(f)])
  y <- rbinom(n, 1, plogis(sin(x1) + 0.5 * x2 * x1 - 0.3 + f_eff))
  data.frame(y = as.numeric(y), x1 = x1, x2 = x2, f = f)
}

# ----------------------------------------------------------------------------- helpers

# run expr, collecting warnings and messages (as strings) instead of printing them
collect <- function(expr) {
  w <- character(0); m <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { m <<- c(m, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  list(value = val, warnings = w, messages = m)
}

# a gKRLS_mfx data.frame -> plain data.frame (records in JSON)
plain_df <- function(d) {
  d <- as.list(d)
  d <- lapply(d, function(col) if (is.factor(col)) as.character(col) else col)
  as.data.frame(d, stringsAsFactors = FALSE, check.names = FALSE)
}

VCOV_CALLS <- list(
  vcov_HC0 = 'sandwich::vcovHC(fit, type = "HC0")',
  vcov_HC1 = 'sandwich::vcovHC(fit, type = "HC1")',
  vcov_CL = paste0('sandwich::vcovCL(fit, cluster = data$g)  # same as cluster = ~g (see vcov_checks); ',
                   'defaults: type = NULL (-> "HC0" since class(fit)[1] != "lm"), cadjust = TRUE ',
                   '(G/(G-1)), multi0 = FALSE, fix = FALSE, sandwich = TRUE; gKRLS estfun.gam sees ',
                   'type = NULL -> no edf adjustment'),
  vcov_CL_HC1 = 'sandwich::vcovCL(fit, cluster = data$g, type = "HC1")'
)

fit_case <- function(name, seed, dgp, n, formula_py, formula_r, n_krls, family,
                     use_weights = FALSE, cluster = FALSE, pre = NULL, big = TRUE) {
  set.seed(seed)
  if (!is.null(pre)) pre()
  data <- dgp(n)
  newdata <- dgp(N_NEW)
  idx_list <- draw_sketches(n, n_krls, environment())
  fml <- as.formula(formula_r, env = environment())
  fam <- family
  t0 <- proc.time()[["elapsed"]]
  res <- if (use_weights) {
    collect(gam(fml, data = data, family = fam, method = "REML", weights = w))
  } else {
    collect(gam(fml, data = data, family = fam, method = "REML"))
  }
  fit <- res$value
  t_fit <- proc.time()[["elapsed"]] - t0

  pl <- predict(fit, newdata = newdata, type = "link", se.fit = TRUE)
  pr <- predict(fit, newdata = newdata, type = "response", se.fit = TRUE)

  edf_by_smooth <- list()
  first_last <- list()
  for (j in seq_along(fit$smooth)) {
    sm <- fit$smooth[[j]]
    edf_by_smooth[[sm$label]] <- sum(fit$edf[sm$first.para:sm$last.para])
    first_last[[sm$label]] <- I(c(sm$first.para, sm$last.para))
  }

  # sandwich variances (gKRLS::estfun.gam + sandwich::bread.gam)
  v <- collect(list(
    HC0 = sandwich::vcovHC(fit, type = "HC0"),
    HC1 = sandwich::vcovHC(fit, type = "HC1")
  ))
  vc <- list(vcov_HC0 = rows(v$value$HC0), vcov_HC1 = rows(v$value$HC1))
  vcov_calls <- VCOV_CALLS[c("vcov_HC0", "vcov_HC1")]
  vcov_notes <- list()
  if (cluster) {
    # vcov_CL uses the cluster *vector* data$g. sandwich::vcovCL(fit, cluster = ~g) is also tried:
    # it calls expand.model.frame(), which re-evaluates fit$call's `data` and the whole formula in
    # environment(formula(fit)) -- for gam that is the global environment, hence the assign()s
    # below -- and model.frame() then fails on s(...) terms ("invalid type (list) for variable
    # 's(...)'"), so the formula interface only works for models without smooths.
    cl <- collect(sandwich::vcovCL(fit, cluster = data$g))
    vc$vcov_CL <- rows(cl$value)
    assign("data", data, envir = globalenv())
    for (k in seq_len(n_krls)) assign(paste0("idx", k), get(paste0("idx", k)), envir = globalenv())
    clf <- tryCatch(sandwich::vcovCL(fit, cluster = ~g),
                    error = function(e) paste("ERROR:", conditionMessage(e)))
    vcov_notes$CL_formula_interface <- if (is.character(clf)) clf else
      paste("works; max abs diff to vcov_CL =", format(max(abs(clf - cl$value)), digits = 3))
    cl0 <- tryCatch(sandwich::vcovCL(fit, cluster = data$g, type = "HC0"),
                    error = function(e) paste("ERROR:", conditionMessage(e)))
    vcov_notes$CL_HC0_explicit <- if (is.character(cl0)) cl0 else
      paste("works; max abs diff to vcov_CL =", format(max(abs(cl0 - cl$value)), digits = 3))
    cl1 <- tryCatch(sandwich::vcovCL(fit, cluster = data$g, type = "HC1"),
                    error = function(e) paste("ERROR:", conditionMessage(e)))
    if (is.character(cl1)) vcov_notes$CL_HC1 <- cl1 else vc$vcov_CL_HC1 <- rows(cl1)
    vcov_calls <- c(vcov_calls, VCOV_CALLS[c("vcov_CL", "vcov_CL_HC1")])
  }
  # re-derive from the closed form to document it: bread = n * Vp / sig2 ;
  # scores s_i = pearson_i * sqrt(working_w_i) * X_i
  X <- predict(fit, type = "lpmatrix")
  s <- as.vector(residuals(fit, "pearson") * sqrt(weights(fit, "working"))) * X
  A <- fit$Vp / fit$sig2
  hc0 <- A %*% crossprod(s) %*% A
  vcov_notes$HC0_closed_form_maxabsdiff <- max(abs(hc0 - v$value$HC0))
  vcov_notes$HC1_closed_form_maxabsdiff <- max(abs(hc0 * n / (n - sum(fit$edf)) - v$value$HC1))
  if (cluster) {
    G <- nlevels(data$g)
    sg <- rowsum(s, data$g)
    vcov_notes$CL_closed_form_maxabsdiff <- max(abs(G / (G - 1) * A %*% crossprod(sg) %*% A -
                                                      cl$value))
  }
  fam_w <- fit$prior.weights * fam$mu.eta(fit$linear.predictors)^2 / fam$variance(fit$fitted.values)
  vcov_notes$working_weights_minus_fisher_weights_maxabs <- max(abs(weights(fit, "working") - fam_w))

  case <- list(
    formula_py = formula_py,
    formula_r = formula_r,
    family = fam$family,
    link = fam$link,
    n = n,
    seed = seed,
    data = df_to_list(data),
    newdata = df_to_list(newdata)
  )
  if (length(idx_list) > 0) case$sketch_indices <- idx_list
  if (use_weights) case$weights <- "w"
  case <- c(case, list(
    coefficients = I(unname(coef(fit))),
    coef_names = I(names(coef(fit))),
    fitted = I(unname(fit$fitted.values)),
    linear_predictors = I(unname(fit$linear.predictors)),
    prior_weights = I(unname(fit$prior.weights)),
    working_weights = I(unname(weights(fit, "working"))),
    pearson_residuals = I(unname(residuals(fit, "pearson"))),
    predict_link = I(unname(as.numeric(pl$fit))),
    predict_link_se = I(unname(as.numeric(pl$se.fit))),
    predict_response = I(unname(as.numeric(pr$fit))),
    predict_response_se = I(unname(as.numeric(pr$se.fit))),
    sp = I(unname(fit$sp)),
    sp_names = I(names(fit$sp)),
    edf = I(unname(fit$edf)),
    edf_by_smooth = if (length(edf_by_smooth)) edf_by_smooth else setNames(list(), character(0)),
    edf_total = sum(fit$edf),
    scale = fit$scale,
    sig2 = fit$sig2,
    scale_estimated = fit$scale.estimated,
    reml = as.numeric(fit$gcv.ubre),
    deviance = fit$deviance,
    converged = fit$converged,
    outer_info = list(conv = fit$outer.info$conv, iter = fit$outer.info$iter),
    smooth_labels = I(vapply(fit$smooth, function(s) s$label, "")),
    smooth_first_last = if (length(first_last)) first_last else setNames(list(), character(0)),
    n_coef_parametric = fit$nsdf,
    fit_warnings = I(res$warnings),
    fit_messages = I(res$messages),
    vcov_warnings = I(v$warnings),
    Vp = rows(fit$Vp),
    Ve = rows(fit$Ve)
  ))
  if (!is.null(fit$offset) && any(unlist(fit$offset) != 0))
    case$offset <- I(unname(as.numeric(fit$offset)))
  if (big) case$lpmatrix <- rows(X)
  case <- c(case, vc)
  case$vcov_calls <- vcov_calls
  case$vcov_checks <- vcov_notes
  case$effects <- list()

  for (nm in names(data)) if (is.numeric(data[[nm]])) {
    back <- fromJSON(toJSON(data[[nm]], digits = NA))
    if (!identical(as.numeric(back), as.numeric(data[[nm]]))) stop("data column ", nm, " does not round-trip")
  }
  cat(sprintf("%-28s n=%d p=%d sp=%s reml=%.6f edf=%.3f conv=%s fit=%.1fs HC0cf=%.1e\n",
              name, n, length(coef(fit)), paste(signif(fit$sp, 4), collapse = ","),
              fit$gcv.ubre, sum(fit$edf), fit$converged, t_fit,
              vcov_notes$HC0_closed_form_maxabsdiff))
  if (length(res$warnings)) cat("   fit warnings:", paste(unique(res$warnings), collapse = " | "), "\n")
  list(case = case, data = data, fit = fit)
}

# one calculate_effects call -> JSON entry
effect_entry <- function(fit, call_str, args, individual_rows = NULL) {
  res <- collect(do.call(calculate_effects, c(list(model = fit), args)))
  out <- res$value
  grad <- attr(out, "gradient")
  d <- plain_df(out)
  e <- list(
    call = call_str,
    continuous_type = if (is.null(args$continuous_type)) "IQR" else args$continuous_type,
    vcov = if (is.null(args$vcov)) "default (vcov(fit) = Vp)" else "sandwich::vcovHC(fit, type = \"HC1\")",
    variable = I(as.character(d$variable)),
    type = I(as.character(d$type)),
    estimate = I(as.numeric(d$est)),
    std_error = I(as.numeric(d$se)),
    gradient_rows = rows(t(as.matrix(grad))),   # one row per effect row, length p each
    N_eff = attr(out, "N_eff"),
    N = attr(out, "N"),
    warnings = I(res$warnings),
    records = d
  )
  if (!is.null(individual_rows)) {
    ind <- plain_df(attr(out, "individual"))
    ind <- ind[ind$obs %in% individual_rows, , drop = FALSE]
    rownames(ind) <- NULL
    e$individual_records <- ind
    e$individual_note <- paste0("only rows with obs in ", min(individual_rows), "..",
                                max(individual_rows), " (1-based) are stored, for every variable")
  }
  e
}

ctypes <- c("derivative", "second_derivative", "IQR", "minmax", "onesd")

standard_effects <- function(fit, vars) {
  V_hc1 <- sandwich::vcovHC(fit, type = "HC1")
  var_str <- paste0("list(", paste0('"', vars, '"', collapse = ", "), ")")
  out <- list()
  for (ct in ctypes) {
    out[[paste0(ct, "__vcov_default")]] <- effect_entry(fit,
      sprintf('calculate_effects(fit, variables = %s, continuous_type = "%s")', var_str, ct),
      list(variables = as.list(vars), continuous_type = ct))
    out[[paste0(ct, "__vcov_HC1")]] <- effect_entry(fit,
      sprintf('calculate_effects(fit, variables = %s, continuous_type = "%s", vcov = sandwich::vcovHC(fit, type = "HC1"))', var_str, ct),
      list(variables = as.list(vars), continuous_type = ct, vcov = V_hc1))
  }
  out
}

interaction_entry <- function(fit, call_str, args) {
  res <- collect(do.call(calculate_interactions, c(list(model = fit), args)))
  d <- plain_df(res$value)
  list(call = call_str,
       QOI = I(as.character(d$QOI)), variable = I(as.character(d$variable)),
       type = I(as.character(d$type)),
       estimate = I(as.numeric(d$est)), std_error = I(as.numeric(d$se)),
       warnings = I(res$warnings), records = d)
}

krls_r <- 's(x1, x2, bs = "gKRLS", xt = gKRLS(sketch_method = idx1))'

# ----------------------------------------------------------------------------- cases
cases <- list()

# a. binomial logit
res <- fit_case("binomial_logit", 301, dgp_binary(plogis), 300,
  'y ~ x3 + krls(x1, x2)', paste('y ~ x3 +', krls_r), 1, binomial())
fit_a <- res$fit
cases$binomial_logit <- res$case
eff <- standard_effects(fit_a, c("x1", "x3"))
eff$derivative__individual <- effect_entry(fit_a,
  'calculate_effects(fit, variables = list("x1", "x3"), continuous_type = "derivative", individual = TRUE)',
  list(variables = list("x1", "x3"), continuous_type = "derivative", individual = TRUE),
  individual_rows = 1:10)
eff$derivative__conditional_x3 <- effect_entry(fit_a,
  'calculate_effects(fit, variables = list("x1"), continuous_type = "derivative", conditional = data.frame(x3 = c(-1, 0, 1)))',
  list(variables = list("x1"), continuous_type = "derivative",
       conditional = data.frame(x3 = c(-1, 0, 1))))
cases$binomial_logit$effects <- eff
cases$binomial_logit$interactions <- list(
  default = interaction_entry(fit_a,
    'calculate_interactions(fit, variables = list(c("x1", "x2")), QOI = c("AMIE", "ACE", "AIE", "AME"))',
    list(variables = list(c("x1", "x2")), QOI = c("AMIE", "ACE", "AIE", "AME"))),
  vcov_HC1 = interaction_entry(fit_a,
    'calculate_interactions(fit, variables = list(c("x1", "x2")), QOI = c("AMIE", "ACE", "AIE", "AME"), vcov = sandwich::vcovHC(fit, type = "HC1"))',
    list(variables = list(c("x1", "x2")), QOI = c("AMIE", "ACE", "AIE", "AME"),
         vcov = sandwich::vcovHC(fit_a, type = "HC1")))
)

# b. binomial probit / cloglog
res <- fit_case("binomial_probit", 302, dgp_binary(pnorm), 300,
  'y ~ krls(x1, x2)', paste('y ~', krls_r), 1, binomial(link = "probit"))
cases$binomial_probit <- res$case

res <- fit_case("binomial_cloglog", 303, dgp_binary(cloglog_inv), 300,
  'y ~ x3 + krls(x1, x2)', paste('y ~ x3 +', krls_r), 1, binomial(link = "cloglog"))
cases$binomial_cloglog <- res$case

# c. poisson with random effect
res <- fit_case("poisson_re", 304, dgp_poisson_re, 300,
  'y ~ krls(x1, x2) + re(g)', paste('y ~', krls_r, '+ s(g, bs = "re")'), 1, poisson(),
  cluster = TRUE, pre = function() u_g <<- r15(rnorm(10, 0, 0.5)))
cases$poisson_re <- res$case
cases$poisson_re$u_g <- I(u_g)
cases$poisson_re$effects <- standard_effects(res$fit, c("x1"))

# d. Gamma log
res <- fit_case("gamma_log", 305, dgp_gamma, 300,
  'y ~ krls(x1, x2)', paste('y ~', krls_r), 1, Gamma(link = "log"))
cases$gamma_log <- res$case

# e. binomial proportions with prior weights (number of trials)
res <- fit_case("binomial_proportion_weights", 306, dgp_proportion, 300,
  'y ~ x3 + krls(x1, x2)', paste('y ~ x3 +', krls_r), 1, binomial(), use_weights = TRUE)
cases$binomial_proportion_weights <- res$case

# f. gaussian with random effect + cluster; gaussian with offset
res <- fit_case("gaussian_cluster", 307, dgp_gaussian_cluster, 300,
  'y ~ x3 + krls(x1, x2) + re(g)', paste('y ~ x3 +', krls_r, '+ s(g, bs = "re")'), 1,
  gaussian(), cluster = TRUE, pre = function() u_g <<- r15(rnorm(12, 0, 0.7)))
cases$gaussian_cluster <- res$case
cases$gaussian_cluster$u_g <- I(u_g)
cases$gaussian_cluster$effects <- standard_effects(res$fit, c("x1", "x3"))

res <- fit_case("gaussian_offset", 308, dgp_gaussian_offset, 300,
  'y ~ x3 + krls(x1, x2) + offset(o)', paste('y ~ x3 +', krls_r, '+ offset(o)'), 1, gaussian())
cases$gaussian_offset <- res$case
cases$gaussian_offset$offset_note <- paste(
  "offset(o) in the formula works with gam: linear_predictors and predict_link include o",
  "(newdata carries o); lpmatrix does NOT include the offset (it is attr 'model.offset').",
  "calculate_effects() refuses models with a non-zero offset (stop).")
cases$gaussian_offset$calculate_effects_error <- tryCatch(
  { calculate_effects(res$fit, variables = list("x1"), continuous_type = "derivative"); "no error" },
  error = function(e) conditionMessage(e))

# g. linear-only logit via gam: sandwich must equal the GLM sandwich
res <- fit_case("linear_only_logit", 309, dgp_linear_logit, 400,
  'y ~ x1 + x3', 'y ~ x1 + x3', 0, binomial(), cluster = TRUE,
  pre = function() u_g <<- r15(rnorm(15, 0, 0.5)))
cases$linear_only_logit <- res$case
cases$linear_only_logit$u_g <- I(u_g)
local({
  d <- res$data
  gfit <- glm(y ~ x1 + x3, family = binomial(), data = d)
  cmp <- list(
    glm_coefficients = I(unname(coef(gfit))),
    glm_vcov_HC0 = rows(sandwich::vcovHC(gfit, type = "HC0")),
    glm_vcov_HC1 = rows(sandwich::vcovHC(gfit, type = "HC1")),
    glm_vcov_CL = rows(sandwich::vcovCL(gfit, cluster = d$g)),
    glm_calls = list(fit = 'glm(y ~ x1 + x3, family = binomial(), data = data)',
                     vcov_HC0 = 'sandwich::vcovHC(glm_fit, type = "HC0")',
                     vcov_HC1 = 'sandwich::vcovHC(glm_fit, type = "HC1")',
                     vcov_CL = 'sandwich::vcovCL(glm_fit, cluster = data$g)')
  )
  c1 <- cases$linear_only_logit
  cmp$maxabsdiff <- list(
    coef = max(abs(c1$coefficients - cmp$glm_coefficients)),
    HC0 = max(abs(c1$vcov_HC0 - cmp$glm_vcov_HC0)),
    HC1 = max(abs(c1$vcov_HC1 - cmp$glm_vcov_HC1)),
    CL = max(abs(c1$vcov_CL - cmp$glm_vcov_CL)))
  cat("   linear_only_logit gam vs glm max abs diffs:",
      paste(names(cmp$maxabsdiff), signif(unlist(cmp$maxabsdiff), 3), collapse = ", "), "\n")
  cases$linear_only_logit$glm_comparison <<- cmp
})

# factor variable effects
res <- fit_case("binomial_factor", 310, dgp_binary_factor, 300,
  'y ~ f + krls(x1, x2)', paste('y ~ f +', krls_r), 1, binomial())
cases$binomial_factor <- res$case
cases$binomial_factor$effects <- list(
  factor__vcov_default = effect_entry(res$fit,
    'calculate_effects(fit, variables = list("f"))', list(variables = list("f"))),
  factor__vcov_HC1 = effect_entry(res$fit,
    'calculate_effects(fit, variables = list("f"), vcov = sandwich::vcovHC(fit, type = "HC1"))',
    list(variables = list("f"), vcov = sandwich::vcovHC(res$fit, type = "HC1"))),
  derivative_x1__vcov_default = effect_entry(res$fit,
    'calculate_effects(fit, variables = list("x1"), continuous_type = "derivative")',
    list(variables = list("x1"), continuous_type = "derivative"))
)

golden <- list(
  r_version = R.version.string,
  mgcv_version = as.character(packageVersion("mgcv")),
  gkrls_version = as.character(packageVersion("gKRLS")),
  sandwich_version = as.character(packageVersion("sandwich")),
  generated_by = "tests/golden/make_gkrls_glm_golden.R",
  cases = cases
)
out_file <- file.path(out_dir, "gkrls_glm.json")
write_json(golden, out_file, digits = NA, auto_unbox = TRUE)
cat(sprintf("wrote %s (%.2f MB) in %.1f s\n", out_file, file.size(out_file) / 2^20,
            proc.time()[["elapsed"]] - t_start))
