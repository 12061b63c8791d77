/* Line and grouped bar charts as gnuplot scripts (see plot.h). */
#include "report/plot.h"

#include <math.h>
#include <stdio.h>

#include "report/gnuplot.h"
#include "report/strbuf.h"

/* Series with at most this many points are drawn with their points marked:
 * an epoch curve of a few points would otherwise hide where they are. */
#define MARKED_POINTS 60
/* More series than this get no legend: it would fill the chart. */
#define MAX_KEYED 40
/* More series than this get a smaller legend beside the chart. */
#define MAX_KEY_BELOW 8

static int drawable(const vkl_plot *p, double x, double y) {
  return isfinite(x) && isfinite(y) && (!p->log2_x || x > 0) && (!p->log_y || y > 0);
}

static size_t drawable_points(const vkl_plot *p, const vkl_plot_series *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++) n += drawable(p, s->x[i], s->y[i]);
  return n;
}

static void add_labels(vkl_strbuf *b, const char *title, const char *xlabel, const char *ylabel) {
  const char *cmd[] = {"set title ", "set xlabel ", "set ylabel "};
  const char *text[] = {title, xlabel, ylabel};
  for (int i = 0; i < 3; i++) {
    if (!text[i]) continue;
    vkl_strbuf_add(b, cmd[i]);
    vkl_gnuplot_quote(b, text[i]);
    vkl_strbuf_add(b, "\n");
  }
}

/* An empty chart that says so, in place of gnuplot's "no valid points" error. */
static void add_no_data(vkl_strbuf *b) {
  vkl_strbuf_add(b,
                 "unset logscale\nset label 'no data' at graph 0.5,0.5 center\n"
                 "plot [0:1][0:1] NaN notitle\n");
}

/* Axes, grid and legend of a line chart with `keyed` series to show. */
static void add_axes(vkl_strbuf *b, const vkl_plot *p, size_t keyed) {
  add_labels(b, p->title, p->xlabel, p->ylabel);
  vkl_strbuf_add(b, "set grid\n");
  if (p->log2_x) vkl_strbuf_add(b, "set logscale x 2\n");
  if (p->log_y) vkl_strbuf_add(b, "set logscale y\nset format y '%g'\n");
  int y2 = 0;
  for (size_t i = 0; i < p->nseries; i++) y2 |= p->series[i].right_axis;
  if (y2) {
    vkl_strbuf_add(b, "set ytics nomirror\nset y2tics\n");
    if (p->log_y) vkl_strbuf_add(b, "set logscale y2\n");
    if (p->y2label) {
      vkl_strbuf_add(b, "set y2label ");
      vkl_gnuplot_quote(b, p->y2label);
      vkl_strbuf_add(b, "\n");
    }
  }
  if (keyed > MAX_KEYED)
    vkl_strbuf_addf(b, "unset key\nset label '%zu series (legend left out)' at graph 0.02,0.96\n",
                    keyed);
  else if (keyed > MAX_KEY_BELOW)
    vkl_strbuf_add(b, "set key outside right top font ',8'\n");
  else
    vkl_strbuf_add(b, "set key below height 1\n"); /* height: clear of the x label */
}

/* Series i as the data block $s<i>, its drawable points one "x y" a line. */
static void add_block(vkl_strbuf *b, const vkl_plot *p, size_t i) {
  const vkl_plot_series *s = &p->series[i];
  vkl_strbuf_addf(b, "$s%zu << EOD\n", i);
  for (size_t k = 0; k < s->n; k++)
    if (drawable(p, s->x[k], s->y[k])) vkl_strbuf_addf(b, "%.9g %.9g\n", s->x[k], s->y[k]);
  vkl_strbuf_add(b, "EOD\n");
}

static void add_plot_command(vkl_strbuf *b, const vkl_plot *p) {
  const char *sep = "plot ";
  for (size_t i = 0; i < p->nseries; i++) {
    const vkl_plot_series *s = &p->series[i];
    size_t n = drawable_points(p, s);
    if (!n) continue;
    vkl_strbuf_addf(b, "%s$s%zu using 1:2 with %s lw 2 %s title ", sep, i,
                    n <= MARKED_POINTS ? "linespoints pt 7 ps 0.7" : "lines",
                    s->right_axis ? "axes x1y2" : "axes x1y1");
    vkl_gnuplot_quote(b, s->name ? s->name : "");
    sep = ", \\\n  ";
  }
  vkl_strbuf_add(b, "\n");
}

/* Renders the script built in b (freed here) into png. */
static vkl_status render(vkl_strbuf *b, unsigned width, unsigned height, const char *png, char *err,
                         size_t errlen) {
  vkl_status st = VKL_ERR_OUT_OF_HOST_MEMORY;
  if (b->failed)
    snprintf(err, errlen, "plot %s: out of host memory", png);
  else
    st = vkl_gnuplot_render(width, height, vkl_strbuf_str(b), png, err, errlen);
  vkl_strbuf_free(b);
  return st;
}

vkl_status vkl_plot_lines(const vkl_plot *p, const char *png, char *err, size_t errlen) {
  vkl_strbuf b = {0};
  size_t keyed = 0;
  for (size_t i = 0; i < p->nseries; i++) keyed += drawable_points(p, &p->series[i]) > 0;
  add_axes(&b, p, keyed);
  if (keyed == 0) {
    add_no_data(&b);
  } else {
    for (size_t i = 0; i < p->nseries; i++)
      if (drawable_points(p, &p->series[i])) add_block(&b, p, i);
    add_plot_command(&b, p);
  }
  return render(&b, p->width, p->height, png, err, errlen);
}

/* A category as a double-quoted gnuplot data field: a double quote inside
 * would end it, so it becomes a single one. */
static void add_category(vkl_strbuf *b, const char *s) {
  vkl_strbuf_add(b, "\"");
  for (; *s; s++) vkl_strbuf_addn(b, *s == '"' ? "'" : *s == '\n' ? " " : s, 1);
  vkl_strbuf_add(b, "\"");
}

static void add_bar_data(vkl_strbuf *b, const vkl_plot_bars *p) {
  vkl_strbuf_add(b, "$bars << EOD\n");
  for (size_t c = 0; c < p->ncategories; c++) {
    add_category(b, p->categories[c]);
    for (size_t g = 0; g < p->ngroups; g++) {
      double v = p->values[c * p->ngroups + g];
      if (isfinite(v))
        vkl_strbuf_addf(b, " %.9g", v);
      else
        vkl_strbuf_add(b, " NaN"); /* `set datafile missing`: no bar */
    }
    vkl_strbuf_add(b, "\n");
  }
  vkl_strbuf_add(b, "EOD\n");
}

vkl_status vkl_plot_bar_chart(const vkl_plot_bars *p, const char *png, char *err, size_t errlen) {
  vkl_strbuf b = {0};
  add_labels(&b, p->title, NULL, p->ylabel);
  if (p->ncategories == 0 || p->ngroups == 0) {
    add_no_data(&b);
  } else {
    vkl_strbuf_add(&b,
                   "set style data histogram\nset style histogram clustered gap 1\n"
                   "set style fill solid 0.85 border -1\nset datafile missing 'NaN'\n"
                   "set grid ytics\nset yrange [0:*]\n"
                   /* inside: the rotated op names already take the space below */
                   "set key inside left top opaque box font ',9'\nset offsets 0,0,graph 0.25,0\n"
                   /* gnuplot sizes margins for the names unrotated: fixed ones use the page */
                   "set lmargin at screen 0.09\nset rmargin at screen 0.98\n"
                   "set bmargin at screen 0.42\nset tmargin at screen 0.9\n"
                   "set xtics rotate by 45 right nomirror scale 0 font ',8'\n");
    add_bar_data(&b, p);
    for (size_t g = 0; g < p->ngroups; g++) {
      vkl_strbuf_addf(&b, "%s$bars using %zu%s title ", g ? ", \\\n  " : "plot ", g + 2,
                      g ? "" : ":xtic(1)");
      vkl_gnuplot_quote(&b, p->groups[g]);
    }
    vkl_strbuf_add(&b, "\n");
  }
  return render(&b, p->width, p->height, png, err, errlen);
}
