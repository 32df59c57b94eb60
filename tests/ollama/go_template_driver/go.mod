module blossom-edge/go_template_driver

go 1.19
