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
