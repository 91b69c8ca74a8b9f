# Helpers shared by the golden-value scripts (sourced from the repository root).
#
# All *input* data are rounded with r15() = signif(, 15) so they survive jsonlite's
# 15-digit JSON round trip bit for bit; custom sketch indices follow gKRLS's default size.

out_dir <- file.path("tests", "golden")
r15 <- function(x) signif(x, 15)

sketch_size <- function(N) floor(ceiling(N^(1 / 3)) * 5)
draw_idx <- function(N) sort(sample(N, sketch_size(N)))

rows <- function(m) unname(as.matrix(m))   # write_json writes matrices row-major

df_to_list <- function(d) {
  lapply(d, function(col) I(if (is.factor(col)) as.character(col) else as.numeric(col)))
}

# One custom sketch per krls() term: draws idx1, idx2, ... (1-based, assigned into `env`,
# where the R formula refers to them) and returns them 0-based for the JSON.
draw_sketches <- function(n, n_krls, env) {
  idx_list <- list()
  for (k in seq_len(n_krls)) {
    idx <- draw_idx(n)
    assign(paste0("idx", k), idx, envir = env)
    idx_list[[paste0("krls", k)]] <- I(as.integer(idx - 1L))
  }
  idx_list
}
