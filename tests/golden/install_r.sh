#!/usr/bin/env bash
# Install R, mgcv and the reference R package gKRLS (for regenerating golden values).
#
# Usage: sudo tests/golden/install_r.sh /path/to/exported/gKRLS-source [LIB=/opt/rlib]
#
# The gKRLS source must already be exported (this script fetches nothing from GitHub), e.g.
#   mkdir -p /tmp/gKRLS-src
#   git --git-dir=<mirror of github.com/mgoplerud/gKRLS> archive HEAD | tar -x -C /tmp/gKRLS-src
#
# gKRLS imports mlr3 (and R6 for the mlr3 learner classes), which Debian does not package.
# The learner classes are not needed for the smoother, calculate_effects or estfun.gam, so a
# patched *copy* of the source is built with them removed:
#   - DESCRIPTION: drop mlr3 and R6 from Imports
#   - R/ml_function.R: drop everything from `add_bam_to_mlr3` on
#   - NAMESPACE: drop importFrom(mlr3,..), importFrom(R6,..) and the exports
#     add_bam_to_mlr3, LearnerRegrBam, LearnerClassifBam
#   - man/mlr3_gKRLS.Rd: removed
set -euo pipefail
SRC=${1:?usage: install_r.sh GKRLS_SOURCE_DIR [LIB]}
LIB=${2:-/opt/rlib}

apt-get update
apt-get install -y --no-install-recommends r-base-core r-base-dev r-cran-mgcv r-cran-matrix \
    r-cran-rcpp r-cran-rcppeigen r-cran-sandwich r-cran-jsonlite

WORK=$(mktemp -d)
cp -r "$SRC" "$WORK/gKRLS"
cd "$WORK/gKRLS"

# DESCRIPTION: remove the mlr3 and R6 Imports lines (and fix the trailing comma before them)
sed -i -e '/^[[:space:]]*mlr3,\?[[:space:]]*$/d' -e '/^[[:space:]]*R6,\?[[:space:]]*$/d' DESCRIPTION
sed -i -e 's/^\([[:space:]]*Matrix\),[[:space:]]*$/\1/' DESCRIPTION
# R/ml_function.R: cut from the roxygen block of add_bam_to_mlr3 to the end
line=$(grep -n '^add_bam_to_mlr3 <- function' R/ml_function.R | cut -d: -f1)
start=$line
while [ "$start" -gt 1 ] && sed -n "$((start-1))p" R/ml_function.R | grep -q "^#'"; do
  start=$((start-1))
done
head -n $((start-1)) R/ml_function.R > R/ml_function.R.new && mv R/ml_function.R.new R/ml_function.R
# NAMESPACE
sed -i -e '/importFrom(mlr3,/d' -e '/importFrom(R6,/d' \
       -e '/^export(add_bam_to_mlr3)/d' -e '/^export(LearnerRegrBam)/d' \
       -e '/^export(LearnerClassifBam)/d' NAMESPACE
rm -f man/mlr3_gKRLS.Rd

mkdir -p "$LIB"
R CMD INSTALL -l "$LIB" .
Rscript -e "library(gKRLS, lib.loc = '$LIB'); cat('gKRLS', as.character(packageVersion('gKRLS', lib.loc = '$LIB')), 'OK\n')"
rm -rf "$WORK"
