#include "cli/bootstrap.hpp"

#include "log/log.hpp"

#include <iostream>

namespace charla::cli {

config::Config load_config(const CommonFlags& flags) {
  std::optional<std::filesystem::path> file;
  if (!flags.config_file.empty()) file = flags.config_file;
  auto config = config::load(file);
  for (auto& f : flags.flows) config.flows.emplace_back(f);
  if (!flags.data_dir.empty()) config.data_dir = flags.data_dir;
  if (!flags.log_level.empty()) config.log_level = flags.log_level;
  if (flags.workers > 0) config.workers = flags.workers;
  if (config.flows.empty())
    throw config::ConfigError("no flow to run: pass --flow FILE or -c CONFIG with a 'flows' list");
  log::set_level(log::parse_level(config.log_level));
  return config;
}

std::unique_ptr<Services> make_services(config::Config config) {
  auto s = std::make_unique<Services>();
  s->config = std::move(config);
  store::Store::Options so;
  so.dir = s->config.data_dir;
  so.map_size = s->config.store.map_size_mb << 20;
  so.max_map_size = s->config.store.max_map_size_mb << 20;
  so.durable = s->config.store.durable;
  s->store = store::Store::open(so);
  s->engine = std::make_unique<runtime::Engine>(runtime::EngineOptions::from_config(s->config), *s->store, s->clock);
  s->engine->add_flow_check([settings = s->config.flow_settings](const std::vector<std::string>& loaded) {
    config::check_flow_settings(settings, loaded);
  });
  return s;
}

int run_guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const config::ConfigError& e) {
    std::cerr << "charla: " << e.what() << "\n";
    return 2;
  } catch (const lua::FlowError& e) {
    std::cerr << "charla: flow error: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "charla: " << e.what() << "\n";
    return 2;
  } catch (const store::DataDirInUse& e) {  // the operator must pick another --data
    std::cerr << "charla: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "charla: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace charla::cli
