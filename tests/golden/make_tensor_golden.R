# Golden values for mgcv's tensor product smooths te() and ti(), as set up by
#   smoothCon(te(...), data, absorb.cons = TRUE, scale.penalty = TRUE)[[1]]
# and evaluated on new data by PredictMat (flexcausal.gkrls.bases.tensor).
#
# Run from the repository root:   Rscript tests/golden/make_tensor_golden.R
# Writes tests/golden/tensor_basis.json.
#
# Inputs are rounded with r15() (golden_helpers.R) so they survive the 15-digit JSON round
# trip bit for bit; outputs carry the 15 significant digits jsonlite writes (digits = NA).
# cr margins are deterministic, so X, S and PredictMat are compared entry by entry. The
# tp-margin case (te(x1, x2, bs = "tp")) is also sign-free: the np = TRUE
# reparametrization makes the marginal coefficients function values at fixed points,
# which cancels the arbitrary eigenvector signs of the tp basis.

.libPaths(c("/opt/rlib", .libPaths()))
suppressPackageStartupMessages({
  library(mgcv)
  library(jsonlite)
})
source(file.path("tests", "golden", "golden_helpers.R"))

set.seed(20240611)
n <- 150
dat <- data.frame(x1 = r15(runif(n)), x2 = r15(runif(n, -1, 2)), x3 = r15(rnorm(n)))
dat$y <- r15(sin(2 * pi * dat$x1) * dat$x2 + 0.3 * dat$x3 + rnorm(n, 0, 0.3))
# new points: inside the data range, on its edges and outside (linear extrapolation)
newdat <- data.frame(
  x1 = r15(c(runif(8), min(dat$x1), max(dat$x1), -0.2, 1.3)),
  x2 = r15(c(runif(8, -1, 2), max(dat$x2), min(dat$x2), 2.5, -1.4)),
  x3 = r15(c(rnorm(8), 0, 1, -4, 4))
)

cases <- list(
  te_default = quote(te(x1, x2)),
  ti_default = quote(ti(x1, x2)),
  te_k46 = quote(te(x1, x2, k = c(4, 6))),
  te_3d = quote(te(x1, x2, x3, k = 4)),
  ti_3d = quote(ti(x1, x2, x3, k = 4)),
  te_tp = quote(te(x1, x2, bs = "tp", k = 5))
)

out <- list(mgcv_version = as.character(packageVersion("mgcv")),
            data = df_to_list(dat), newdata = df_to_list(newdat), cases = list())
for (name in names(cases)) {
  spec <- eval(cases[[name]])
  sm <- smoothCon(spec, data = dat, knots = NULL, absorb.cons = TRUE,
                  scale.penalty = TRUE)[[1]]
  margins <- lapply(sm$margin, function(m) {
    list(bs = class(m)[1], k = m$bs.dim, term = I(m$term),
         knots = if (!is.null(m$xp)) I(as.numeric(m$xp)) else NULL)
  })
  out$cases[[name]] <- list(
    call = deparse(cases[[name]]),
    X = rows(sm$X),
    S = lapply(sm$S, rows),
    S_scale = I(sm$S.scale),
    rank = I(sm$rank),
    null_space_dim = sm$null.space.dim,
    predict = rows(PredictMat(sm, newdat)),
    XP_null = I(vapply(seq_along(sm$margin), function(i) is.null(sm$XP[i][[1]]), TRUE)),
    margins = margins
  )
}

# Gaussian REML fits (mgcv's optimum; the score there, with its coefficients, is what the
# REML core must reproduce at the same sp)
fits <- list(te_default = y ~ te(x1, x2), te_3d = y ~ te(x1, x2, x3, k = 4),
             ti_main = y ~ s(x1, bs = "cr", k = 5) + s(x2, bs = "cr", k = 5) + ti(x1, x2))
out$fits <- list()
for (name in names(fits)) {
  b <- gam(fits[[name]], data = dat, method = "REML")
  out$fits[[name]] <- list(formula = deparse(fits[[name]]), sp = I(as.numeric(b$sp)),
                           reml = as.numeric(b$gcv.ubre), coef = I(as.numeric(coef(b))),
                           edf = sum(b$edf), scale = b$sig2)
}

write_json(out, file.path(out_dir, "tensor_basis.json"), digits = NA, auto_unbox = TRUE,
           pretty = FALSE)
cat("wrote", file.path(out_dir, "tensor_basis.json"), "\n")
