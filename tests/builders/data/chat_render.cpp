// Renders one OpenAI-style chat request with a Jinja chat template the way llama-server does
// (tools/server/server-common.cpp oaicompat_chat_params_parse, then common_chat_templates_apply).
// stdin: {"template": str, "bos": str, "eos": str, "body": {messages, tools?, chat_template_kwargs?}}
// stdout: the prompt.
#include "chat.h"

#include "json.h"

#include <iostream>
#include <iterator>
#include <string>

int main() {
    try {
        std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        common_json req = common_json::parse(input);
        const common_json & body = req.at("body");
        auto tmpls = common_chat_templates_init(nullptr, req.at("template").get<std::string>(),
                                                req.value("bos", std::string("")), req.value("eos", std::string("")));
        common_chat_templates_inputs inputs;
        inputs.messages = common_chat_msgs_parse_oaicompat(body.at("messages"));
        inputs.tools = common_chat_tools_parse_oaicompat(body.value("tools", common_json::array()));
        inputs.use_jinja = true;
        inputs.add_generation_prompt = true;
        inputs.enable_thinking = true;
        common_json kwargs = body.value("chat_template_kwargs", common_json::object());
        for (const auto & item : kwargs.items()) {
            inputs.chat_template_kwargs[item.key()] = item.value().dump();
        }
        auto it = inputs.chat_template_kwargs.find("enable_thinking");
        if (it != inputs.chat_template_kwargs.end()) {
            inputs.enable_thinking = it->second == "true";
        }
        auto params = common_chat_templates_apply(tmpls.get(), inputs);
        std::cout << params.prompt;
        return 0;
    } catch (const std::exception & e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
}
