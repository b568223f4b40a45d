#pragma once
// Line plots as self-contained SVG (precision@k curves like the paper's figure, training
// curves): no plotting library needed, and the file opens in any browser.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "deephash/core/atomic_file.hpp"

namespace deephash {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 720, height = 480;
  bool y_from_zero = false;
};

namespace detail {
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// About `count` round tick values covering [lo, hi].
inline std::vector<double> nice_ticks(double lo, double hi, int count) {
  const double span = hi > lo ? hi - lo : 1.0;
  const double raw = span / std::max(1, count);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}
}  // namespace detail

inline std::string line_plot_svg(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  static const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                        "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]); x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]); y1 = std::max(y1, s.y[i]);
    }
  if (x0 > x1) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (o.y_from_zero) y0 = std::min(0.0, y0);
  if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
  if (x1 - x0 < 1e-12) { x0 -= 0.5; x1 += 0.5; }
  const double pad = (y1 - y0) * 0.05;
  y0 -= o.y_from_zero && y0 >= 0 ? 0 : pad;
  y1 += pad;

  const double left = 70, right = 190, top = 40, bottom = 55;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };

  std::ostringstream svg;
  char buf[160];
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << left + pw / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
      << detail::xml_escape(o.title) << "</text>\n";
  for (double t : detail::nice_ticks(y0, y1, 6)) {
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, py(t), left + pw, py(t));
    svg << buf << "\n";
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>", left - 6, py(t) + 4, t);
    svg << buf << "\n";
  }
  for (double t : detail::nice_ticks(x0, x1, 8)) {
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", px(t), top, px(t), top + ph);
    svg << buf << "\n";
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>", px(t), top + ph + 18, t);
    svg << buf << "\n";
  }
  std::snprintf(buf, sizeof buf, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>", left, top, pw, ph);
  svg << buf << "\n";
  svg << "<text x=\"" << left + pw / 2 << "\" y=\"" << o.height - 12 << "\" text-anchor=\"middle\">"
      << detail::xml_escape(o.x_label) << "</text>\n";
  svg << "<text transform=\"translate(18," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << detail::xml_escape(o.y_label) << "</text>\n";
  for (std::size_t s = 0; s < series.size(); ++s) {
    const char* color = kColors[s % (sizeof kColors / sizeof *kColors)];
    svg << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << color << "\" points=\"";
    for (std::size_t i = 0; i < series[s].x.size() && i < series[s].y.size(); ++i) {
      if (!std::isfinite(series[s].x[i]) || !std::isfinite(series[s].y[i])) continue;
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(series[s].x[i]), py(series[s].y[i]));
      svg << buf;
    }
    svg << "\"/>\n";
    const double ly = top + 14 + 20 * double(s);
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>", left + pw + 12, ly, left + pw + 36, ly, color);
    svg << buf << "\n<text x=\"" << left + pw + 42 << "\" y=\"" << ly + 4 << "\">"
        << detail::xml_escape(series[s].name) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

inline void write_line_plot_svg(const std::string& path, const std::vector<PlotSeries>& series,
                                const PlotOptions& options) {
  const std::string text = line_plot_svg(series, options);
  write_file_atomically(path, text.data(), text.size());
}

}  // namespace deephash
