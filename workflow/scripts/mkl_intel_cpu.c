/* Make MKL take its Intel code paths on an AMD processor, so that an AMD machine rounds as the
 * Intel kinds do (docs/reproducibility.md). MKL asks these two internal functions whether it runs
 * on an Intel CPU and chooses its kernels by the answer; this library answers yes.
 *
 *   gcc -shared -fPIC -O2 -o /tmp/libmkl_intel_cpu.so workflow/scripts/mkl_intel_cpu.c
 *   LD_PRELOAD=/tmp/libmkl_intel_cpu.so snakemake --cores 2 ...
 *
 * Every record made this way says so: provenance.*.device.numerics_env holds LD_PRELOAD. */
int mkl_serv_intel_cpu_true(void) { return 1; }
int mkl_serv_intel_cpu(void) { return 1; }
