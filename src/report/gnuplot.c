/* Finding and running gnuplot (see gnuplot.h). */
#include "report/gnuplot.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ; /* POSIX; unistd.h declares it only under _GNU_SOURCE */

#define GNUPLOT_MISSING \
  "gnuplot not found on PATH; install Debian's gnuplot-nox (apt-get install gnuplot-nox)"

static int executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* name in a directory of PATH (an empty entry is the current directory, as
 * the shell reads it); 0, or -1 when none holds it. */
static int search_path(const char *name, char *out, size_t outlen) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin"; /* the shell's default */
  for (const char *p = path;;) {
    const char *colon = strchr(p, ':');
    int n = (int)(colon ? (size_t)(colon - p) : strlen(p));
    int w = snprintf(out, outlen, "%.*s/%s", n ? n : 1, n ? p : ".", name);
    if (w > 0 && (size_t)w < outlen && executable(out)) return 0;
    if (!colon) return -1;
    p = colon + 1;
  }
}

vkl_status vkl_gnuplot_find(char *out, size_t outlen, char *err, size_t errlen) {
  const char *env = getenv("VKLARS_GNUPLOT");
  if (!env || !*env) {
    if (search_path("gnuplot", out, outlen) == 0) return VKL_OK;
    snprintf(err, errlen, "%s", GNUPLOT_MISSING);
    return VKL_ERR_UNSUPPORTED;
  }
  int found = strchr(env, '/')
                  ? executable(env) && (size_t)snprintf(out, outlen, "%s", env) < outlen
                  : search_path(env, out, outlen) == 0;
  if (found) return VKL_OK;
  snprintf(err, errlen,
           "gnuplot not found: VKLARS_GNUPLOT is '%s', not an executable program; install "
           "Debian's gnuplot-nox (apt-get install gnuplot-nox) or correct VKLARS_GNUPLOT",
           env);
  return VKL_ERR_UNSUPPORTED;
}

void vkl_gnuplot_quote(vkl_strbuf *b, const char *s) {
  vkl_strbuf_add(b, "'");
  for (; *s; s++) {
    if (*s == '\'')
      vkl_strbuf_add(b, "''");
    else
      vkl_strbuf_addn(b, *s == '\n' || *s == '\r' ? " " : s, 1);
  }
  vkl_strbuf_add(b, "'");
}

/* A temporary file made by mkstemp from the template; its descriptor, or -1
 * with err set. */
static int temp_file(char *tmpl, char *err, size_t errlen) {
  int fd = mkstemp(tmpl);
  if (fd < 0) snprintf(err, errlen, "cannot create %s: %s", tmpl, strerror(errno));
  return fd;
}

static vkl_status write_all(int fd, const char *path, const char *text, char *err, size_t errlen) {
  for (size_t n = strlen(text); n;) {
    ssize_t w = write(fd, text, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      snprintf(err, errlen, "cannot write %s: %s", path, strerror(w < 0 ? errno : EIO));
      return VKL_ERR_IO;
    }
    text += w;
    n -= (size_t)w;
  }
  return VKL_OK;
}

/* What gnuplot's stderr says, into out: its first line, and when that is
 * only a warning (gnuplot warns before it fails), the first line that is
 * not, after " | ". */
static void stderr_summary(int fd, char *out, size_t outlen) {
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = '\0';
  const char *first = NULL, *error = NULL;
  for (char *line = buf; *line && !error;) {
    char *nl = strchr(line, '\n'), *next = nl ? nl + 1 : line + strlen(line);
    if (nl) *nl = '\0';
    while (*line == ' ' || *line == '\t') line++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
    if (len && !first) first = line;
    if (len && strncmp(line, "Warning", 7) != 0) error = line;
    line = next;
  }
  if (!first)
    snprintf(out, outlen, "(nothing on stderr)");
  else if (!error || error == first)
    snprintf(out, outlen, "%s", first);
  else
    snprintf(out, outlen, "%s | %s", first, error);
}

/* Runs `prog script` with stdin and stdout on /dev/null and stderr into
 * errfd; its wait status in *status. */
static vkl_status spawn_wait(const char *prog, const char *script, int errfd, int *status,
                             char *err, size_t errlen) {
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) {
    snprintf(err, errlen, "cannot run %s: out of host memory", prog);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) ||
      posix_spawn_file_actions_adddup2(&fa, errfd, 2)) {
    posix_spawn_file_actions_destroy(&fa);
    snprintf(err, errlen, "cannot run %s: out of host memory", prog);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  char prog_arg[4096], script_arg[4096];
  snprintf(prog_arg, sizeof prog_arg, "%s", prog);
  snprintf(script_arg, sizeof script_arg, "%s", script);
  char *argv[] = {prog_arg, script_arg, NULL};
  pid_t pid;
  int e = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e) {
    snprintf(err, errlen, "cannot run %s: %s", prog, strerror(e));
    return VKL_ERR_IO;
  }
  while (waitpid(pid, status, 0) < 0) {
    if (errno == EINTR) continue;
    snprintf(err, errlen, "waiting for %s: %s", prog, strerror(errno));
    return VKL_ERR_IO;
  }
  return VKL_OK;
}

/* What a finished gnuplot left: VKL_OK for exit status 0 and an image. */
static vkl_status check_result(const char *prog, const char *png, const char *tmp_png, int status,
                               int errfd, char *err, size_t errlen) {
  char line[1024];
  stderr_summary(errfd, line, sizeof line);
  if (WIFSIGNALED(status)) {
    snprintf(err, errlen, "%s drawing %s: killed by signal %d: %s", prog, png, WTERMSIG(status),
             line);
    return VKL_ERR_IO;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(err, errlen, "%s drawing %s: exit status %d: %s", prog, png,
             WIFEXITED(status) ? WEXITSTATUS(status) : -1, line);
    return VKL_ERR_IO;
  }
  struct stat st;
  if (stat(tmp_png, &st) != 0 || st.st_size == 0) {
    snprintf(err, errlen, "%s drawing %s: wrote no image: %s", prog, png, line);
    return VKL_ERR_IO;
  }
  return VKL_OK;
}

/* The script: terminal and output, then the caller's commands. */
static vkl_status script_text(unsigned width, unsigned height, const char *body,
                              const char *tmp_png, vkl_strbuf *s, char *err, size_t errlen) {
  vkl_strbuf_addf(s, "set terminal pngcairo noenhanced size %u,%u\nset output ", width, height);
  vkl_gnuplot_quote(s, tmp_png);
  vkl_strbuf_add(s, "\n");
  vkl_strbuf_add(s, body);
  vkl_strbuf_add(s, "\nunset output\n");
  if (!s->failed) return VKL_OK;
  snprintf(err, errlen, "gnuplot script for %s: out of host memory", tmp_png);
  return VKL_ERR_OUT_OF_HOST_MEMORY;
}

/* The temporary files of one rendering. */
typedef struct render_files {
  char png[1100], script[1100], log[1100];
  int png_fd, script_fd, log_fd;
} render_files;

static vkl_status open_files(render_files *f, const char *png, char *err, size_t errlen) {
  const char *tmpdir = getenv("TMPDIR");
  if (!tmpdir || !*tmpdir) tmpdir = "/tmp";
  *f = (render_files){.png_fd = -1, .script_fd = -1, .log_fd = -1};
  /* a newline would end gnuplot's `set output` command: the image would go
   * to another name */
  if (strpbrk(png, "\n\r")) {
    snprintf(err, errlen, "%s: a PNG path with a newline cannot be given to gnuplot", png);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  if ((size_t)snprintf(f->png, sizeof f->png, "%s.tmp.XXXXXX", png) >= sizeof f->png) {
    snprintf(err, errlen, "%s: path too long", png);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  snprintf(f->script, sizeof f->script, "%s/vklars-plot-XXXXXX", tmpdir);
  snprintf(f->log, sizeof f->log, "%s/vklars-plot-stderr-XXXXXX", tmpdir);
  if ((f->png_fd = temp_file(f->png, err, errlen)) < 0 ||
      (f->script_fd = temp_file(f->script, err, errlen)) < 0 ||
      (f->log_fd = temp_file(f->log, err, errlen)) < 0)
    return VKL_ERR_IO;
  fchmod(f->png_fd, 0644); /* a report is for reading; mkstemp made it 0600 */
  return VKL_OK;
}

/* Closes and removes the temporary files (the image too, unless kept). */
static void close_files(render_files *f, int keep_png) {
  if (f->png_fd >= 0) {
    close(f->png_fd);
    if (!keep_png) unlink(f->png);
  }
  if (f->script_fd >= 0) {
    close(f->script_fd);
    unlink(f->script);
  }
  if (f->log_fd >= 0) {
    close(f->log_fd);
    unlink(f->log);
  }
}

vkl_status vkl_gnuplot_render(unsigned width, unsigned height, const char *body, const char *png,
                              char *err, size_t errlen) {
  char prog[4096];
  vkl_status st = vkl_gnuplot_find(prog, sizeof prog, err, errlen);
  if (st) return st;
  render_files f;
  vkl_strbuf script = {0};
  int status = 0;
  if (!(st = open_files(&f, png, err, errlen)) &&
      !(st = script_text(width, height, body, f.png, &script, err, errlen)) &&
      !(st = write_all(f.script_fd, f.script, vkl_strbuf_str(&script), err, errlen)) &&
      !(st = spawn_wait(prog, f.script, f.log_fd, &status, err, errlen)))
    st = check_result(prog, png, f.png, status, f.log_fd, err, errlen);
  vkl_strbuf_free(&script);
  if (!st && rename(f.png, png) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", png, strerror(errno));
    st = VKL_ERR_IO;
  }
  close_files(&f, !st);
  return st;
}
