#!/bin/busybox sh
# udhcpc's lease script (initramfs): the address, the default route and DNS from the lease
# of the organization's network, written for the workspace's root in /newroot.
case "$1" in
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for gw in $router; do ip route add default via "$gw" dev "$interface"; break; done
    : >/newroot/etc/resolv.conf.wws
    for server in $dns; do echo "nameserver $server" >>/newroot/etc/resolv.conf.wws; done
    [ -n "$domain" ] && echo "search $domain" >>/newroot/etc/resolv.conf.wws
    rm -f /newroot/etc/resolv.conf
    mv /newroot/etc/resolv.conf.wws /newroot/etc/resolv.conf
    ;;
esac
exit 0
