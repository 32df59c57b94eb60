"""Rebuild the reconstructed device trees in this directory from published device data.

Run from the repository root: `python tests/data/devices/reconstruct.py`. Each tree has the
layout `blossom-edge device --capture` writes; SOURCES.md says where every figure came from.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

ARM_V82 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop"
ARM_V9 = (ARM_V82 + " sha3 sm3 sm4 asimddp sha512 asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg"
          " dcpodp flagm2 frint i8mm bf16 bti")


def meminfo(total_kb: int, avail_kb: int, swap_kb: int, swap_free_kb: int) -> str:
    free = avail_kb // 3
    return (f"MemTotal:       {total_kb} kB\nMemFree:        {free} kB\nMemAvailable:   {avail_kb} kB\n"
            f"Buffers:        {total_kb // 200} kB\nCached:         {avail_kb - free} kB\n"
            f"SwapCached:            0 kB\nSwapTotal:      {swap_kb} kB\nSwapFree:       {swap_free_kb} kB\n")


def arm_cpuinfo(cores: list[tuple[int, int, int, int, int]], features: str, tail: str = "") -> str:
    """cores: (implementer, variant, part, revision, bogomips×100) per CPU."""
    out = []
    for i, (impl, var, part, rev, bogo) in enumerate(cores):
        out.append(f"processor\t: {i}\nBogoMIPS\t: {bogo / 100:.2f}\nFeatures\t: {features}\n"
                   f"CPU implementer\t: 0x{impl:02x}\nCPU architecture: 8\nCPU variant\t: 0x{var:x}\n"
                   f"CPU part\t: 0x{part:03x}\nCPU revision\t: {rev}\n")
    return "\n".join(out) + ("\n" + tail if tail else "")


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def cpufreq(max_khz: list[int], cap_khz: list[int] | None = None) -> dict[str, str]:
    files = {"sys/devices/system/cpu/present": f"0-{len(max_khz) - 1}\n"}
    for i, khz in enumerate(max_khz):
        files[f"sys/devices/system/cpu/cpu{i}/cpufreq/cpuinfo_max_freq"] = f"{khz}\n"
        files[f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_max_freq"] = f"{(cap_khz or max_khz)[i]}\n"
    return files


def thermal(zones: list[tuple[str, int]]) -> dict[str, str]:
    files = {}
    for i, (kind, milli) in enumerate(zones):
        files[f"sys/class/thermal/thermal_zone{i}/type"] = kind + "\n"
        files[f"sys/class/thermal/thermal_zone{i}/temp"] = f"{milli}\n"
    return files


def battery(name: str, status: str, cap: int, cur_ua: int, volt_uv: int, temp_dc: int) -> dict[str, str]:
    base = f"sys/class/power_supply/{name}"
    return {f"{base}/type": "Battery\n", f"{base}/status": status + "\n", f"{base}/capacity": f"{cap}\n",
            f"{base}/current_now": f"{cur_ua}\n", f"{base}/voltage_now": f"{volt_uv}\n",
            f"{base}/temp": f"{temp_dc}\n"}


def kernel(release: str, ostype: str = "Linux") -> dict[str, str]:
    return {"proc/sys/kernel/osrelease": release + "\n", "proc/sys/kernel/ostype": ostype + "\n"}


def getprop(props: dict[str, str]) -> str:
    return "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items()))


def galaxy_s23() -> None:
    cores = [(0x41, 0x1, 0xD46, 0, 3840)] * 3 + [(0x41, 0x1, 0xD4D, 0, 3840)] * 2 \
        + [(0x41, 0x2, 0xD47, 0, 3840)] * 2 + [(0x41, 0x1, 0xD4E, 0, 3840)]
    files = {
        "proc/cpuinfo": arm_cpuinfo(cores, ARM_V9),
        "proc/meminfo": meminfo(7_535_104, 2_861_312, 4_194_300, 3_015_680),
        "getprop.txt": getprop({
            "ro.product.model": "SM-S911B", "ro.product.manufacturer": "samsung", "ro.product.brand": "samsung",
            "ro.build.version.release": "14", "ro.build.version.sdk": "34", "ro.soc.model": "SM8550",
            "ro.soc.manufacturer": "QTI", "ro.board.platform": "kalama", "ro.hardware": "qcom"}),
        **kernel("5.15.123-android14-11-29543898-abS911BXXS3CXD1"),
        **cpufreq([2016000] * 3 + [2803200] * 4 + [3360000]),
        **thermal([("cpu-0-0-0", 41200), ("cpu-1-0-0", 44800), ("cpu-1-2-0", 45300), ("battery", 33000)]),
        **battery("battery", "Discharging", 78, -412000, 3987000, 331),
    }
    write(HERE / "galaxy-s23-snapdragon-8-gen-2", files)


def pixel3() -> None:
    cores = [(0x51, 0x7, 0x803, 12, 3840)] * 4 + [(0x51, 0x6, 0x802, 13, 3840)] * 4
    tail = "Hardware\t: Qualcomm Technologies, Inc SDM845\n"
    files = {
        # 4.9 kernels predate HWCAP_ASIMDDP: no `asimddp` although Kryo 385 cores execute SDOT/UDOT.
        "proc/cpuinfo": arm_cpuinfo(cores, ARM_V82, tail),
        "proc/meminfo": meminfo(3_768_668, 1_120_448, 524_284, 212_400),
        "getprop.txt": getprop({
            "ro.product.model": "Pixel 3", "ro.product.manufacturer": "Google", "ro.product.brand": "google",
            "ro.build.version.release": "12", "ro.build.version.sdk": "31", "ro.board.platform": "sdm845",
            "ro.hardware": "blueline"}),
        **kernel("4.9.270-g862f51bac900-ab7613625"),
        **cpufreq([1766400] * 4 + [2803200] * 4, [1766400] * 4 + [1996800] * 4),
        **thermal([("cpu0-silver-usr", 52100), ("cpu4-gold-usr", 71400), ("battery", 38000)]),
    }
    write(HERE / "pixel-3-snapdragon-845", files)


def vivo_x90_pro() -> None:
    cores = [(0x41, 0x1, 0xD46, 1, 2600)] * 4 + [(0x41, 0x1, 0xD4D, 0, 2600)] * 3 + [(0x41, 0x1, 0xD4E, 0, 2600)]
    files = {
        "proc/cpuinfo": arm_cpuinfo(cores, ARM_V9),
        "proc/meminfo": meminfo(11_725_312, 5_112_004, 8_388_604, 8_001_212),
        "getprop.txt": getprop({
            "ro.product.model": "V2219A", "ro.product.manufacturer": "vivo", "ro.product.brand": "vivo",
            "ro.build.version.release": "13", "ro.build.version.sdk": "33", "ro.soc.model": "MT6985",
            "ro.soc.manufacturer": "Mediatek", "ro.board.platform": "mt6985", "ro.hardware": "mt6985"}),
        **kernel("5.15.41-android13-8-00055-g4f5025129fe8-ab9397856"),
        **cpufreq([1800000] * 4 + [2850000] * 3 + [3050000]),
        **thermal([("mtktscpu", 47250), ("soc_max", 48100)]),
    }
    write(HERE / "vivo-x90-pro-dimensity-9200", files)


def raspberry_pi_5() -> None:
    cores = [(0x41, 0x4, 0xD0B, 1, 10800)] * 4
    tail = "Revision\t: d04170\nSerial\t\t: 7d2f1a3b9c0e4d51\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    files = {
        "proc/cpuinfo": arm_cpuinfo(cores, ARM_V82 + " asimddp", tail),
        "proc/meminfo": meminfo(8_245_424, 7_410_112, 204_796, 204_796),
        "proc/device-tree/model": b"Raspberry Pi 5 Model B Rev 1.0\x00",
        "proc/device-tree/compatible": b"raspberrypi,5-model-b\x00brcm,bcm2712\x00",
        "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n',
        **kernel("6.6.31+rpt-rpi-2712"),
        **cpufreq([2400000] * 4),
        **thermal([("cpu-thermal", 55350)]),
    }
    write(HERE / "raspberry-pi-5", files)


def orange_pi_5() -> None:
    cores = [(0x41, 0x2, 0xD05, 0, 4800)] * 4 + [(0x41, 0x4, 0xD0B, 0, 4800)] * 4
    files = {
        "proc/cpuinfo": arm_cpuinfo(cores, ARM_V82 + " asimddp"),
        "proc/meminfo": meminfo(16_086_464, 14_922_300, 8_043_228, 8_043_228),
        "proc/device-tree/model": b"Orange Pi 5\x00",
        "proc/device-tree/compatible": b"rockchip,rk3588s-orangepi-5\x00rockchip,rk3588\x00",
        "etc/os-release": 'PRETTY_NAME="Orange Pi 1.1.8 Jammy"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n',
        **kernel("5.10.160-rockchip-rk3588"),
        **cpufreq([1800000] * 4 + [2256000] * 4),
        **thermal([("soc-thermal", 43500), ("bigcore0-thermal", 44400), ("bigcore1-thermal", 44400),
                   ("littlecore-thermal", 43500), ("center-thermal", 42600), ("gpu-thermal", 42600),
                   ("npu-thermal", 43500)]),
    }
    write(HERE / "orange-pi-5-rk3588s", files)


def thinkpad_i7_1260p() -> None:
    flags = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr "
             "sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts "
             "rep_good nopl xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor "
             "ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm sse4_1 sse4_2 x2apic movbe popcnt "
             "tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb "
             "ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed "
             "adx smap clflushopt clwb intel_pt sha_ni xsaveopt xsavec xgetbv1 xsaves split_lock_detect "
             "avx_vnni dtherm ida arat pln pts hwp hwp_notify hwp_act_window hwp_epp hwp_pkg_req hfi umip pku "
             "ospke waitpkg gfni vaes vpclmulqdq rdpid movdiri movdir64b fsrm md_clear serialize arch_lbr "
             "ibt flush_l1d arch_capabilities")
    blocks = []
    # Linux numbers the P-core hyper-thread pairs 0-7 (core ids 0,4,8,12), then the E-cores 8-15.
    core_ids = [0, 0, 4, 4, 8, 8, 12, 12, 16, 17, 18, 19, 20, 21, 22, 23]
    for i, core in enumerate(core_ids):
        blocks.append(f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 154\n"
                      f"model name\t: 12th Gen Intel(R) Core(TM) i7-1260P\nstepping\t: 3\n"
                      f"cpu MHz\t\t: 1400.000\ncache size\t: 18432 KB\nphysical id\t: 0\nsiblings\t: 16\n"
                      f"core id\t\t: {core}\ncpu cores\t: 12\nflags\t\t: {flags}\n")
    files = {
        "proc/cpuinfo": "\n".join(blocks),
        "proc/meminfo": meminfo(16_097_852, 11_204_552, 2_097_148, 2_097_148),
        "etc/os-release": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n',
        **kernel("6.5.0-35-generic"),
        **cpufreq([4700000] * 8 + [3400000] * 8),
        **thermal([("acpitz", 45000), ("INT3400 Thermal", 20000), ("x86_pkg_temp", 52000)]),
        **battery("BAT0", "Discharging", 64, 1_450_000, 16_212_000, 0),
    }
    write(HERE / "thinkpad-x1-i7-1260p", files)


def jetson_orin_nano() -> None:
    cores = [(0x41, 0x0, 0xD42, 1, 6250)] * 6
    files = {
        "proc/cpuinfo": arm_cpuinfo(cores, ARM_V82 + " asimddp uscat ilrcpc flagm paca pacg"),
        "proc/meminfo": meminfo(7_620_244, 6_011_580, 3_810_112, 3_810_112),
        "proc/device-tree/model": b"NVIDIA Jetson Orin Nano Developer Kit\x00",
        "proc/device-tree/compatible": b"nvidia,p3768-0000+p3767-0005\x00nvidia,p3767-0005\x00nvidia,tegra234\x00",
        "etc/os-release": 'PRETTY_NAME="Ubuntu 22.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n',
        **kernel("5.15.122-tegra"),
        **cpufreq([1510400] * 6),
        **thermal([("cpu-thermal", 47718), ("gpu-thermal", 46312), ("soc0-thermal", 46781),
                   ("tj-thermal", 47718)]),
    }
    write(HERE / "jetson-orin-nano", files)


if __name__ == "__main__":
    for build in (galaxy_s23, pixel3, vivo_x90_pro, raspberry_pi_5, orange_pi_5, thinkpad_i7_1260p,
                  jetson_orin_nano):
        build()
